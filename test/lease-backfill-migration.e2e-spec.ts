import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReconciliationRunRepository } from '../src/reconciliation/reconciliation-run.repository';
import { createTestApp } from './support/test-app';
import { migrationOrm } from './support/migration-orm';
import { TestDatabase, createTestDatabase } from './support/test-database';

const BACKFILL = 'Migration20261128160000';
const LEASES = 'Migration20261128050000';

/** Runs a version before leases left `running` lapse like any other once migrated. */
describe(`${BACKFILL} on runs left running without a lease`, () => {
  let db: TestDatabase;
  let orm: MikroORM;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await migrationOrm(db.url);
    await orm.getMigrator().down({ to: BACKFILL });
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it('gives them an hour’s lease, and leaves finished and claimed runs alone', async () => {
    expect((await orm.getMigrator().getExecutedMigrations()).at(-1)?.name).toBe(LEASES);
    await db.pool.query(
      `INSERT INTO reconciliation_runs (trigger, start_date, end_date, status, attempts, lease_until)
       VALUES ('command', '2026-11-01', '2026-11-02', 'running', 0, NULL),
              ('command', '2026-11-01', '2026-11-02', 'succeeded', 1, NULL),
              ('command', '2026-11-01', '2026-11-02', 'running', 0, '2030-01-01T00:00:00Z')`,
    );
    await orm.getMigrator().up({ to: BACKFILL });
    const { rows } = await db.pool.query<{ status: string; lease: string | null }>(
      `SELECT status, CASE
         WHEN lease_until IS NULL THEN NULL
         WHEN lease_until BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes' THEN 'an hour'
         ELSE lease_until::date::text END AS lease
       FROM reconciliation_runs ORDER BY started_at, status, lease_until NULLS FIRST`,
    );
    expect(rows).toEqual([
      { status: 'running', lease: 'an hour' },
      { status: 'running', lease: '2030-01-01' },
      { status: 'succeeded', lease: null },
    ]);
  });

  it('reads a run that a version before leases starts later as lapsed an hour after it started', async () => {
    const app = await createTestApp(db.url);
    try {
      const { rows } = await db.pool.query<{ id: string }>(
        `INSERT INTO reconciliation_runs (trigger, start_date, end_date, status, attempts, started_at)
         VALUES ('command', '2026-11-01', '2026-11-02', 'running', 0, now() - interval '61 minutes'),
                ('command', '2026-11-01', '2026-11-02', 'running', 0, now() - interval '5 minutes')
         RETURNING id`,
      );
      const [old, recent] = rows.map(({ id }) => id);
      const runs = app.get(ReconciliationRunRepository);
      expect(await runs.find(old)).toMatchObject({
        status: 'failed',
        error: { code: 'interrupted' },
      });
      expect(await runs.find(recent)).toMatchObject({ status: 'running', error: null });
      expect(await runs.expireLeases()).toEqual([old]);
    } finally {
      await app.close();
    }
  });
});
