import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReconciliationRunRepository } from '../src/reconciliation/reconciliation-run.repository';
import { RunLease } from '../src/reconciliation/run-lease';
import { FakeGa4 } from './support/fake-ga4';
import { SCHEDULE_API_KEY, scheduledService } from './support/scheduled-service';
import { createTestApp } from './support/test-app';
import { type TestDatabase, createTestDatabase } from './support/test-database';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ONCE_A_YEAR = '0 0 0 1 1 *';
const CRASHED_REPLICA = '00000000-0000-4000-8000-00000000dead';

/** A service with a 300 ms claim whose runs wait on a GA4 that answers in a minute. */
function shortClaimAwaitingGa4(seen: (fake: FakeGa4) => unknown) {
  return scheduledService(
    { RECONCILE_LEASE_MS: '300', GA4_TIMEOUT_MS: '60000', GA4_RETRIES: '0' },
    (fake) => {
      seen(fake);
      fake.delayMs = 60_000;
    },
  );
}

async function firstRunId(db: TestDatabase): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    'SELECT id FROM reconciliation_runs ORDER BY scheduled_for LIMIT 1',
  );
  return rows[0].id;
}

describe('a scheduled run while GA4 is answering it', () => {
  let ga4!: FakeGa4;
  const service = scheduledService({ GA4_TIMEOUT_MS: '60000', GA4_RETRIES: '0' }, (fake) => {
    ga4 = fake;
    fake.delayMs = 60_000;
  });

  it('holds no transaction and no lock open, and shows as running with its claim', async () => {
    await expect.poll(() => ga4.runReportCalls.length, { timeout: 5_000 }).toBe(1);
    const { pool } = service.db;
    const { rows: sessions } = await pool.query<{ state: string }>(
      `SELECT state FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`,
    );
    expect(sessions).toEqual([]);
    const { rows: locks } = await pool.query(
      "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted",
    );
    expect(locks).toEqual([]);
    const { rows: runs } = await pool.query<{ status: string; leased: boolean }>(
      `SELECT status, lease_owner IS NOT NULL AND lease_until > now() AS leased
       FROM reconciliation_runs`,
    );
    expect(runs).toEqual([{ status: 'running', leased: true }]);
    await service.app.close();
  });
});

describe('a scheduled run whose replica died while running it', () => {
  let ga4!: FakeGa4;
  const service = scheduledService(
    { RECONCILE_CRON: ONCE_A_YEAR, RECONCILE_RETRY_DELAY_MS: '100' },
    (fake) => (ga4 = fake),
  );
  const run = async () =>
    (
      await service.db.pool.query<{ status: string; attempts: number; code: string | null }>(
        "SELECT status, attempts, error->>'code' AS code FROM reconciliation_runs",
      )
    ).rows;

  it('is left alone while its claim lasts, and run again once the claim lapses', async () => {
    await service.db.pool.query(
      `INSERT INTO reconciliation_runs
         (trigger, scheduled_for, start_date, end_date, status, attempts, lease_owner, lease_until)
       VALUES ('schedule', now(), current_date - 3, current_date - 1, 'running', 0, $1,
               now() + interval '1 hour')`,
      [CRASHED_REPLICA],
    );
    await sleep(2_500); // two or more looks for runs to take over (1 s apart)
    expect(await run()).toEqual([{ status: 'running', attempts: 0, code: null }]);
    expect(ga4.runReportCalls).toHaveLength(0);

    await service.db.pool.query(
      "UPDATE reconciliation_runs SET lease_until = now() - interval '1 second'",
    );
    // The lapsed attempt counts: a run that takes its process down is not taken up for ever.
    await expect
      .poll(run, { timeout: 5_000, interval: 50 })
      .toEqual([{ status: 'succeeded', attempts: 2, code: null }]);
    expect(ga4.runReportCalls).toHaveLength(1);
  });
});

describe('a scheduled run that takes longer than its claim lasts', () => {
  let ga4!: FakeGa4;
  const service = scheduledService(
    { RECONCILE_LEASE_MS: '1500', GA4_TIMEOUT_MS: '60000', GA4_RETRIES: '0' },
    (fake) => {
      ga4 = fake;
      fake.delayMs = 5_000; // past three of the watcher's looks (1 s apart) after a claim lapses
    },
  );

  it('keeps it by renewing it: a replica looking for lapsed runs leaves it alone', async () => {
    const watcher = await createTestApp(service.db.url, {
      API_KEYS: SCHEDULE_API_KEY,
      ...ga4.env(),
      RECONCILE_CRON: ONCE_A_YEAR,
      RECONCILE_RETRY_DELAY_MS: '100',
      RECONCILE_EVENT_TYPES: 'purchase',
    });
    try {
      // Taken over, the first run would count its lapsed attempt and end with two.
      await expect
        .poll(
          async () =>
            (
              await service.db.pool.query(
                'SELECT status, attempts FROM reconciliation_runs ORDER BY scheduled_for LIMIT 1',
              )
            ).rows,
          { timeout: 12_000, interval: 50 },
        )
        .toEqual([{ status: 'succeeded', attempts: 1 }]);
    } finally {
      await watcher.close();
    }
  }, 20_000);
});

describe('a scheduled run whose claim another replica took over meanwhile', () => {
  let ga4!: FakeGa4;
  const service = shortClaimAwaitingGa4((fake) => (ga4 = fake));

  it('stops waiting on GA4 and stores nothing over the other replica’s run', async () => {
    await expect.poll(() => ga4.runReportCalls.length, { timeout: 5_000 }).toBe(1);
    const runId = await firstRunId(service.db);
    await service.db.pool.query('UPDATE reconciliation_runs SET lease_owner = $1 WHERE id = $2', [
      CRASHED_REPLICA,
      runId,
    ]);
    // Told at its next renewal (100 ms apart): GA4's call is dropped, not awaited for a minute.
    await expect.poll(() => ga4.abandonedRunReports, { timeout: 3_000, interval: 50 }).toBe(1);
    await service.app.close();
    // Later ticks (one a second) are other runs.
    const { rows } = await service.db.pool.query(
      'SELECT status, attempts, lease_owner, error FROM reconciliation_runs WHERE id = $1',
      [runId],
    );
    expect(rows).toEqual([
      { status: 'running', attempts: 0, lease_owner: CRASHED_REPLICA, error: null },
    ]);
  });
});

describe('a scheduled run whose claim cannot be renewed (its row locked, the renewal hangs)', () => {
  let ga4!: FakeGa4;
  const service = shortClaimAwaitingGa4((fake) => (ga4 = fake));

  it('gives the run up when its claim lapses, not when the hung renewal times out', async () => {
    await expect.poll(() => ga4.runReportCalls.length, { timeout: 5_000 }).toBe(1);
    const holder = await service.db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM reconciliation_runs WHERE id = $1 FOR UPDATE', [
        await firstRunId(service.db),
      ]);
      // The claim lasts 300 ms; the renewal would wait for DB_STATEMENT_TIMEOUT_MS (5 s).
      await expect.poll(() => ga4.abandonedRunReports, { timeout: 2_000, interval: 50 }).toBe(1);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
  });
});

describe('a scheduled run another replica took over and failed while this one asked GA4', () => {
  let ga4!: FakeGa4;
  const service = scheduledService(
    {
      GA4_TIMEOUT_MS: '60000',
      GA4_RETRIES: '0',
      RECONCILE_RETRY_DELAY_MS: '100',
      // Long enough that no renewal tells this replica before GA4's answer does.
      RECONCILE_LEASE_MS: '60000',
    },
    (fake) => {
      ga4 = fake;
      fake.delayMs = 1_500;
      fake.runReportAnswer = { rows: 'not a list' };
    },
  );

  it('stores nothing over it and leaves its retries to that replica', async () => {
    await expect.poll(() => ga4.runReportCalls.length, { timeout: 5_000 }).toBe(1);
    const runId = await firstRunId(service.db);
    const takenOverAndFailed = {
      status: 'failed',
      attempts: 3,
      lease_owner: null,
      error: { code: 'ga4_unavailable', message: 'the other replica’s attempt' },
    };
    await service.db.pool.query(
      `UPDATE reconciliation_runs SET status = 'failed', attempts = 3, lease_owner = NULL,
         lease_until = NULL, error = $2 WHERE id = $1`,
      [runId, takenOverAndFailed.error],
    );
    // GA4 answers at 1.5 s; a retry of this replica's would claim the run 100 ms later and
    // store its own failure 1.5 s after that.
    await sleep(4_500);
    const { rows } = await service.db.pool.query(
      'SELECT status, attempts, lease_owner, error FROM reconciliation_runs WHERE id = $1',
      [runId],
    );
    expect(rows).toEqual([takenOverAndFailed]);
  });
});

describe('a claim stopped while its renewal waits for the database', () => {
  let db: TestDatabase;
  let app: Awaited<ReturnType<typeof createTestApp>>;
  beforeAll(async () => {
    db = await createTestDatabase();
    app = await createTestApp(db.url);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('stays stopped when that renewal gets through: nothing gives the ended run up later', async () => {
    const runs = app.get(ReconciliationRunRepository);
    // Long enough that the claim cannot lapse before the renewal is seen waiting.
    const lease = { owner: randomUUID(), ms: 1_500 };
    const claimSentAt = Date.now();
    const runId = await runs.createCommandRun(
      { startDate: '2026-01-01', endDate: '2026-01-02' },
      lease,
    );
    const holder = await db.pool.connect();
    let claim: RunLease;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM reconciliation_runs WHERE id = $1 FOR UPDATE', [runId]);
      claim = new RunLease(runs, runId, lease, new Logger('test'), claimSentAt);
      // The first renewal (after a third of the lease) waits for the row.
      await expect
        .poll(
          async () =>
            (
              await db.pool.query(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
              )
            ).rowCount,
          { timeout: 1_000, interval: 20 },
        )
        .toBe(1);
      claim.stop();
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    await sleep(2 * lease.ms);
    expect(claim.lost.aborted).toBe(false);
  });
});
