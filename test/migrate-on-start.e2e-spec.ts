import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../src/config/app-config';
import { resolveDatabase } from '../src/persistence/database-location';
import { migrateDatabase } from '../src/persistence/migrate';
import { MikroORM } from '@mikro-orm/postgresql';
import { createOrmOptions } from '../src/persistence/orm-options';
import { migrationsList } from '../migrations';
import { TestDatabase, createTestDatabase } from './support/test-database';
import { adminQuery, withDatabase } from './support/postgres-admin';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starting on an empty DATABASE_URL: what `npm run start:prod` does before it serves. */
describe('migrations at start (MIGRATE_ON_START)', () => {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `ct_test_empty_${randomBytes(6).toString('hex')}`;
  const url = withDatabase(adminUrl, name);
  const quiet = new Logger('test');
  quiet.log = () => undefined;

  const appliedMigrations = async (): Promise<number | null> => {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table: string | null }>(
        "SELECT to_regclass('mikro_orm_migrations')::text AS table",
      );
      if (rows[0].table === null) return null;
      const count = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM mikro_orm_migrations',
      );
      return count.rows[0].n;
    } finally {
      await client.end();
    }
  };
  const start = (env: Record<string, string>) =>
    resolveDatabase(loadConfig({ DATABASE_URL: url, ...env }).database, quiet);

  beforeAll(() => adminQuery(adminUrl, [`CREATE DATABASE ${name}`]));
  afterAll(() => adminQuery(adminUrl, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]));

  it('leaves the database alone when turned off, or when DATABASE_URL is a transaction pooler, and refuses to start on no schema', async () => {
    const noSchema =
      /The database has no schema yet .* run `npm run migrate` against the server first/;
    await expect(start({ MIGRATE_ON_START: 'false' })).rejects.toThrow(noSchema);
    await expect(start({ DB_TRANSACTION_POOLING: 'true' })).rejects.toThrow(noSchema);
    expect(await appliedMigrations()).toBeNull();
  });

  it('gives up waiting for a migrations lock nobody releases, saying who may hold it', async () => {
    const holder = new Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(hashtext('conversion-tracking:migrations'))");
      const database = { ...loadConfig({ DATABASE_URL: url }).database, url };
      await expect(migrateDatabase(database, { lockWait: '300ms' })).rejects.toThrow(
        /Waited 300ms for the migrations lock: another process holds it/,
      );
    } finally {
      await holder.end();
    }
  });

  it('applies every migration once when replicas start together on an empty database', async () => {
    const applied: string[] = [];
    const spy = new Logger('spy');
    spy.log = (message: unknown) => {
      applied.push(String(message));
    };
    await Promise.all(
      [1, 2, 3].map(() => resolveDatabase(loadConfig({ DATABASE_URL: url }).database, spy)),
    );
    expect(await appliedMigrations()).toBe(migrationsList.length);
    // One replica applied them all; the others waited for it and found none pending.
    expect(applied.filter((line) => line.startsWith('Applied migrations:'))).toHaveLength(1);
    // Once migrated, a start that leaves migrations to a release step goes ahead.
    await start({ MIGRATE_ON_START: 'false' });
  });

  it('waits for another replica’s migrations longer than a statement timeout set on the database', async () => {
    await adminQuery(adminUrl, [`ALTER DATABASE ${name} SET statement_timeout = '200ms'`]);
    const holder = new Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(hashtext('conversion-tracking:migrations'))");
      const database = { ...loadConfig({ DATABASE_URL: url }).database, url };
      const migrating = migrateDatabase(database);
      await sleep(1_000);
      await holder.query("SELECT pg_advisory_unlock(hashtext('conversion-tracking:migrations'))");
      await expect(migrating).resolves.toEqual([]);
    } finally {
      await holder.end();
      await adminQuery(adminUrl, [`ALTER DATABASE ${name} RESET statement_timeout`]);
    }
  });
});

/** Until a session of the migrations (its own application_name) waits for a lock. */
async function waitForLockWaiter(pool: TestDatabase['pool']): Promise<void> {
  for (let polls = 0; polls < 100; polls++) {
    const { rows } = await pool.query(
      "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'conversion-tracking' AND wait_event_type = 'Lock'",
    );
    if (rows.length > 0) return;
    await sleep(20);
  }
  throw new Error('the migration never waited for the table lock');
}

describe('a migration that needs a table a running transaction reads (a rolling deploy)', () => {
  let db: TestDatabase;
  // It alters reconciliation_runs; the one after it only updates rows.
  const altering = 'Migration20261128050000';
  const after = migrationsList
    .map((migration) => migration.name)
    .slice(migrationsList.findIndex((migration) => migration.name === altering));

  beforeAll(async () => {
    db = await createTestDatabase();
    const database = { ...loadConfig({ DATABASE_URL: db.url }).database, url: db.url };
    const orm = await MikroORM.init({ ...createOrmOptions(database), pool: { min: 0, max: 1 } });
    try {
      await orm.getMigrator().down({ to: altering });
    } finally {
      await orm.close(true);
    }
    // A role's or database's timeout must not cancel a migration: only its lock wait may.
    await db.pool.query(
      `ALTER DATABASE ${new URL(db.url).pathname.slice(1)} SET statement_timeout = '100ms'`,
    );
  });
  afterAll(() => db?.drop());

  it('waits for it in short turns, so the table’s other readers are not held up behind it', async () => {
    const holder = await db.pool.connect();
    const reader = new Client({ connectionString: db.url, statement_timeout: 3_000 });
    await reader.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM reconciliation_runs');
      const database = { ...loadConfig({ DATABASE_URL: db.url }).database, url: db.url };
      const migrating = migrateDatabase(database, { tableLockWait: { ms: 300, attempts: 30 } });
      await waitForLockWaiter(db.pool);
      const started = Date.now();
      await reader.query('SELECT count(*) FROM reconciliation_runs');
      // Queued behind the ALTER TABLE at most for its lock wait, not until the holder ends.
      expect(Date.now() - started).toBeLessThan(1_500);
      await sleep(3_500);
      await holder.query('COMMIT');
      expect(await migrating).toEqual(after);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
      await reader.end();
    }
  }, 30_000);
});
