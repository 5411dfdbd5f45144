import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrationsList } from '../migrations';
import { FakeGa4 } from './support/fake-ga4';
import { adminQuery, withDatabase } from './support/postgres-admin';
import { buildService } from './support/service-process';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');

describe('npm run reconcile (the compiled command)', () => {
  const fake = new FakeGa4();
  let db: TestDatabase;

  beforeAll(async () => {
    buildService();
    await fake.start();
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
    await fake.stop();
  });

  const reconcile = (args: string[]) =>
    run(process.execPath, ['dist/src/bin/reconcile.js', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...fake.env(), DATABASE_URL: db.url, LOG_LEVEL: 'error' },
    });

  /** The command started, once GA4 has been asked (and is holding its answer). */
  const reconcileWhileGa4Waits = async (
    env: Record<string, string> = {},
    answerAfterMs = 60_000,
  ) => {
    const asked = fake.runReportCalls.length;
    fake.delayMs = answerAfterMs;
    const child = spawn(process.execPath, ['dist/src/bin/reconcile.js'], {
      cwd: ROOT,
      env: { ...process.env, ...fake.env(), DATABASE_URL: db.url, LOG_LEVEL: 'error', ...env },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await expect.poll(() => fake.runReportCalls.length, { timeout: 15_000 }).toBe(asked + 1);
    return { child, exited, stderr: () => stderr };
  };
  const latestRun = async () =>
    (
      await db.pool.query<{ id: string; status: string; error: { code: string } | null }>(
        'SELECT id, status, error FROM reconciliation_runs ORDER BY started_at DESC LIMIT 1',
      )
    ).rows[0];

  it('prints the report and stores the run', async () => {
    fake.rows = [{ date: '2026-11-02', eventName: 'purchase', count: 4 }];
    await db.pool.query(
      `INSERT INTO events (event_id, event_type, visitor_id, occurred_at, source, medium, channel, is_bot)
       VALUES ('cli-1', 'purchase', 'v1', '2026-11-02T12:00:00Z', '(direct)', '(none)', 'direct', false)`,
    );
    const { stdout } = await reconcile(['--start-date', '2026-11-01', '--end-date', '2026-11-03']);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      start_date: '2026-11-01',
      end_date: '2026-11-03',
      property_id: fake.propertyId,
      summary: { ga4_total: 4, db_total: 1, difference: -3 },
    });
    const { rows } = await db.pool.query(
      "SELECT trigger, status, attempts, report->>'status' AS report_status FROM reconciliation_runs",
    );
    expect(rows).toEqual([
      { trigger: 'command', status: 'succeeded', attempts: 1, report_status: 'discrepancies' },
    ]);
  });

  it('exits 1 and stores the failure when GA4 refuses; 2 on bad arguments', async () => {
    fake.failures.push({ status: 403, grpcStatus: 'PERMISSION_DENIED', message: 'No access.' });
    const failure = await reconcile([
      '--start-date',
      '2026-11-01',
      '--end-date',
      '2026-11-03',
    ]).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toContain('PERMISSION_DENIED');
    const { rows } = await db.pool.query(
      "SELECT status, error->>'code' AS code FROM reconciliation_runs WHERE status = 'failed'",
    );
    expect(rows).toEqual([{ status: 'failed', code: 'ga4_error' }]);

    const bad = await reconcile(['--start-date', '2026-02-30']).catch(
      (error: { code: number }) => error,
    );
    expect(bad).toMatchObject({ code: 2 });
  });

  it('leaves DATABASE_URL’s schema to `npm run migrate`: refuses a database behind this version', async () => {
    const { rows } = await db.pool.query<{ name: string }>(
      'DELETE FROM mikro_orm_migrations WHERE id = (SELECT max(id) FROM mikro_orm_migrations) RETURNING *',
    );
    try {
      const behind = await reconcile([]).catch((error: { code: number; stderr: string }) => error);
      expect(behind).toMatchObject({ code: 1 });
      expect((behind as { stderr: string }).stderr).toContain(
        `The database lacks this version's migrations (${rows[0].name})`,
      );
      const { rowCount } = await db.pool.query(
        'SELECT 1 FROM mikro_orm_migrations WHERE name = $1',
        [rows[0].name],
      );
      expect(rowCount).toBe(0);
    } finally {
      await db.pool.query(
        'INSERT INTO mikro_orm_migrations SELECT * FROM json_populate_record(NULL::mikro_orm_migrations, $1)',
        [rows[0]],
      );
    }
  });

  it('changes nothing in a database never migrated, nor creates one that is missing', async () => {
    const adminUrl = inject('adminDatabaseUrl');
    const name = `ct_empty_${randomBytes(4).toString('hex')}`;
    const reconcileOn = (database: string) =>
      run(process.execPath, ['dist/src/bin/reconcile.js'], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: withDatabase(adminUrl, database), LOG_LEVEL: 'error' },
      }).catch((error: { code: number; stderr: string }) => error);
    const queryOn = async (database: string, sql: string) => {
      const client = new Client({ connectionString: withDatabase(adminUrl, database) });
      await client.connect();
      try {
        return (await client.query(sql)).rows;
      } finally {
        await client.end();
      }
    };
    const databaseExists = async () =>
      (await queryOn('postgres', `SELECT 1 FROM pg_database WHERE datname = '${name}'`)).length;

    const missing = await reconcileOn(name);
    expect(missing).toMatchObject({ code: 1 });
    expect((missing as { stderr: string }).stderr).toContain(`The database does not exist`);
    expect(await databaseExists()).toBe(0);

    await adminQuery(adminUrl, [`CREATE DATABASE ${name}`]);
    try {
      const empty = await reconcileOn(name);
      expect(empty).toMatchObject({ code: 1 });
      expect((empty as { stderr: string }).stderr).toContain(
        `The database lacks this version's migrations (${migrationsList[0].name},`,
      );
      expect(
        await queryOn(
          name,
          "SELECT count(*)::int AS tables FROM pg_tables WHERE schemaname = 'public'",
        ),
      ).toEqual([{ tables: 0 }]);
    } finally {
      await adminQuery(adminUrl, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
    }
  });

  it('stops at SIGINT without waiting on GA4, and stores the run as interrupted', async () => {
    try {
      const command = await reconcileWhileGa4Waits();
      const signalled = Date.now();
      command.child.kill('SIGINT');
      expect(await command.exited).toBe(1);
      expect(Date.now() - signalled).toBeLessThan(5_000);
      expect(command.stderr()).toContain('stopped by SIGINT: stored as interrupted');
      expect(await latestRun()).toMatchObject({
        status: 'failed',
        error: { code: 'interrupted', message: 'The command was stopped before the run was done' },
      });
    } finally {
      fake.delayMs = 0;
    }
  }, 30_000);

  it('stops at SIGINT sent while it counts the database’s events, once GA4 has answered', async () => {
    const holder = await db.pool.connect();
    try {
      // Named: with no types found in the range there is no count to wait for.
      const command = await reconcileWhileGa4Waits({ RECONCILE_EVENT_TYPES: 'purchase' }, 1_000);
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
      await expect
        .poll(
          async () =>
            (
              await db.pool.query(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
              )
            ).rowCount,
          { timeout: 10_000, interval: 20 },
        )
        .toBe(1);
      command.child.kill('SIGINT');
      await expect.poll(command.stderr, { timeout: 5_000 }).toContain('SIGINT received');
      await holder.query('ROLLBACK');
      expect(await command.exited).toBe(1);
      expect(command.stderr()).toContain('stopped by SIGINT: stored as interrupted');
      expect(await latestRun()).toMatchObject({ status: 'failed', error: { code: 'interrupted' } });
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
      fake.delayMs = 0;
    }
  }, 30_000);

  it('leaves a killed command’s run `running` only while its claim lasts, with no schedule anywhere', async () => {
    const api = await createTestApp(db.url, {
      API_KEYS: 'command-key-0123456789',
      RECONCILE_CRON: 'off',
    });
    const read = async (id: string) =>
      (
        await api.inject({
          url: `/v1/reconciliation/runs/${id}`,
          headers: { 'x-api-key': 'command-key-0123456789' },
        })
      ).json<{ status: string; error: { code: string } | null }>();
    try {
      const command = await reconcileWhileGa4Waits({ RECONCILE_LEASE_MS: '5000' });
      command.child.kill('SIGKILL');
      await command.exited;
      const { id } = await latestRun();
      expect(await read(id)).toMatchObject({ status: 'running', error: null });
      await expect
        .poll(() => read(id), { timeout: 10_000, interval: 100 })
        .toMatchObject({ status: 'failed', error: { code: 'interrupted' } });
    } finally {
      fake.delayMs = 0;
      await api.close();
    }
  }, 30_000);
});
