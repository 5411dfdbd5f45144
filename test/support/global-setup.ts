import { mkdtemp, chmod, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { migrateDatabase } from '../../src/persistence/migrate';
import { startEmbeddedPostgres } from '../../src/persistence/embedded-postgres';
import { loadConfig } from '../../src/config/app-config';
import { adminQuery, withDatabase } from './postgres-admin';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A server URL (any database) with rights to create databases. */
    adminDatabaseUrl: string;
    /** A migrated database that each test file clones. */
    templateDatabase: string;
  }
}

/**
 * One migrated template database per run; each test file clones it (fast, isolated).
 * DATABASE_URL names the server to use; without it an embedded PostgreSQL is started,
 * so `npm test` works on a machine without a database server.
 */
/** The part of vitest's TestProject this setup uses (its type is ESM-only). */
interface ProvidingProject {
  provide<K extends 'adminDatabaseUrl' | 'templateDatabase'>(key: K, value: string): void;
}

export default async function setup(project: ProvidingProject): Promise<() => Promise<void>> {
  Logger.overrideLogger(['fatal', 'error', 'warn']);
  const cleanups: (() => Promise<void>)[] = [];
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const dataDir = await mkdtemp(join(tmpdir(), 'ct-test-pg-'));
    await chmod(dataDir, 0o755); // the embedded server runs as `postgres` when we are root
    const embedded = await startEmbeddedPostgres({ dataDir, port: 54339, database: 'postgres' });
    adminUrl = embedded.url;
    cleanups.push(async () => {
      await embedded.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
  }
  const template = `ct_template_${process.pid}`;
  await adminQuery(adminUrl, [
    `DROP DATABASE IF EXISTS ${template}`,
    `CREATE DATABASE ${template}`,
  ]);
  const config = loadConfig({ DATABASE_URL: adminUrl });
  await migrateDatabase({ ...config.database, url: withDatabase(adminUrl, template) });
  project.provide('adminDatabaseUrl', adminUrl);
  project.provide('templateDatabase', template);
  return async () => {
    await adminQuery(adminUrl, [`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`]);
    for (const cleanup of cleanups) await cleanup();
  };
}
