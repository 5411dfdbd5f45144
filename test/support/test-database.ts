import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'pg';
import { inject } from 'vitest';
import { adminQuery, withDatabase } from './postgres-admin';

export interface TestDatabase {
  url: string;
  /** A plain pg pool on the same database, for assertions that bypass the service. */
  pool: Pool;
  drop(): Promise<void>;
}

/** A fresh database cloned from the migrated template: one per test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `ct_test_${randomBytes(6).toString('hex')}`;
  // Concurrent clones of one template can collide ("being accessed by other users").
  for (let attempt = 1; ; attempt++) {
    try {
      await adminQuery(adminUrl, [
        `CREATE DATABASE ${name} TEMPLATE ${inject('templateDatabase')}`,
      ]);
      break;
    } catch (error) {
      if (attempt >= 20 || !/being accessed by other users/.test(String(error))) throw error;
      await sleep(100 * attempt);
    }
  }
  const url = withDatabase(adminUrl, name);
  const pool = new Pool({ connectionString: url, max: 4 });
  // pg-pool re-emits an idle connection's error on the pool, and pool.end() resolves before
  // its connections have closed, so the DROP ... WITH (FORCE) below (like a test's
  // pg_terminate_backend) can still reach one: unhandled, that 'error' crashes the test
  // file's process ("terminating connection due to administrator command").
  pool.on('error', () => undefined);
  return {
    url,
    pool,
    drop: async () => {
      await pool.end();
      await adminQuery(adminUrl, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
    },
  };
}
