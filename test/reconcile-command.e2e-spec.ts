import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGa4 } from './support/fake-ga4';
import { buildService } from './support/service-process';
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
});
