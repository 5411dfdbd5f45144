import { readFileSync, writeFileSync } from 'node:fs';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addDays, dateInZone } from '../src/common/validation/date-range';
import { ReconciliationRunRepository } from '../src/reconciliation/reconciliation-run.repository';
import { ReconciliationScheduler } from '../src/reconciliation/reconciliation-scheduler';
import { FakeGa4 } from './support/fake-ga4';
import { SCHEDULE_API_KEY as KEY, scheduledService } from './support/scheduled-service';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RunSummary {
  id: string;
  trigger: string;
  scheduled_for: string;
  status: string;
  attempts: number;
  started_at: string;
  finished_at: string | null;
  report_status: string | null;
  error: { code: string; message: string } | null;
}

describe('scheduled reconciliation on two replicas sharing one database', () => {
  const fake = new FakeGa4();
  let db: TestDatabase;
  let replicas: NestFastifyApplication[] = [];
  const runs = async (query = '?limit=100') =>
    (
      await request(replicas[0].getHttpServer())
        .get(`/v1/reconciliation/runs${query}`)
        .set('X-API-Key', KEY)
        .expect(200)
    ).body as { runs: RunSummary[]; total: number; limit: number; offset: number };

  beforeAll(async () => {
    await fake.start();
    db = await createTestDatabase();
    const env = {
      API_KEYS: KEY,
      ...fake.env(),
      RECONCILE_CRON: '* * * * * *', // every second
      RECONCILE_RETRY_DELAY_MS: '300',
      RECONCILE_EVENT_TYPES: 'purchase',
    };
    replicas = await Promise.all([createTestApp(db.url, env), createTestApp(db.url, env)]);
  });
  afterAll(async () => {
    await Promise.all(replicas.map((app) => app.close()));
    await db?.drop();
    await fake.stop();
  });

  it('runs each tick once, stores failures with their error, retries them, never crashes', async () => {
    // GA4 refuses for a while: runs fail, are stored with GA4's error, and are retried.
    for (let i = 0; i < 50; i++) {
      fake.failures.push({
        status: 403,
        grpcStatus: 'PERMISSION_DENIED',
        message: 'No access to this property.',
      });
    }
    await sleep(1_500);
    const failed = (await runs()).runs.find((run) => run.status === 'failed');
    expect(failed?.error).toMatchObject({ code: 'ga4_error' });
    expect(failed?.error?.message).toContain('No access to this property.');
    await request(replicas[0].getHttpServer()).get('/health').expect(200);

    // GA4 recovers: new ticks succeed, and a retry turns a failed run into a success.
    fake.failures.length = 0;
    await sleep(3_000);
    // Stop both schedules (and let a run in flight finish) before counting.
    await Promise.all(
      replicas.map((app) => app.get(ReconciliationScheduler).beforeApplicationShutdown()),
    );
    const scheduled = (await runs()).runs.filter((run) => run.trigger === 'schedule');
    expect(scheduled.length).toBeGreaterThanOrEqual(4);
    // One run per tick, and GA4 asked once per attempt: the other replica skipped each tick.
    expect(new Set(scheduled.map((run) => run.scheduled_for)).size).toBe(scheduled.length);
    const attempts = scheduled.reduce((sum, run) => sum + run.attempts, 0);
    expect(fake.runReportCalls).toHaveLength(attempts);
    // Finished after it started.
    for (const run of scheduled) expect(run.finished_at! > run.started_at).toBe(true);
    // Newest first.
    const times = scheduled.map((run) => run.scheduled_for);
    expect([...times].sort().reverse()).toEqual(times);

    const retried = scheduled.find((run) => run.attempts > 1 && run.status === 'succeeded');
    expect(retried).toBeDefined();
    const { body: detail } = await request(replicas[1].getHttpServer())
      .get(`/v1/reconciliation/runs/${retried!.id}`)
      .set('X-API-Key', KEY)
      .expect(200);
    expect(detail).toMatchObject({ status: 'succeeded', error: null });
    expect(detail.report).toMatchObject({ property_id: fake.propertyId, status: 'ok' });
  });

  it('pages the run list and answers 404 for unknown and malformed ids', async () => {
    const all = await runs();
    const second = await runs('?limit=1&offset=1');
    expect(second).toMatchObject({ limit: 1, offset: 1, total: all.total });
    expect(second.runs.map((run) => run.id)).toEqual([all.runs[1].id]);
    const server = replicas[0].getHttpServer();
    await request(server)
      .get('/v1/reconciliation/runs/00000000-0000-4000-8000-000000000000')
      .set('X-API-Key', KEY)
      .expect(404);
    await request(server).get('/v1/reconciliation/runs/nope').set('X-API-Key', KEY).expect(404);
    await request(server).get('/v1/reconciliation/runs?limit=0').set('X-API-Key', KEY).expect(400);
    await request(server)
      .get('/v1/reconciliation/runs?limit=1e1')
      .set('X-API-Key', KEY)
      .expect(400);
    // Past PostgreSQL's bigint: a 400, not the 500 of an out-of-range OFFSET.
    await request(server)
      .get('/v1/reconciliation/runs?offset=99999999999999999999')
      .set('X-API-Key', KEY)
      .expect(400);
    await request(server).get('/v1/reconciliation/runs').expect(401);
  });
});

describe('a scheduled run while GA4 cannot be reached', () => {
  const service = scheduledService({
    GA4_API_URL: 'http://127.0.0.1:9', // nothing listens there; the token endpoint is the fake's
    GA4_TIMEOUT_MS: '300',
    GA4_RETRIES: '0',
  });

  it('records the run as failed with the reason, and the process stays healthy', async () => {
    await sleep(2_500);
    const { body } = await request(service.app.getHttpServer())
      .get('/v1/reconciliation/runs')
      .set('X-API-Key', KEY)
      .expect(200);
    const failed = (body as { runs: RunSummary[] }).runs.filter((run) => run.status === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0].error).toMatchObject({ code: 'ga4_unavailable' });
    expect(failed[0].error?.message).toContain('cannot connect');
    await request(service.app.getHttpServer()).get('/health').expect(200);
  });
});

describe('a scheduled run while GA4 is not configured', () => {
  const service = scheduledService({
    GA4_PROPERTY_ID: '',
    GA4_CREDENTIALS_FILE: '',
    RECONCILE_RETRY_DELAY_MS: '100',
  });

  it('is stored as failed once, not retried: only new settings and a restart can help', async () => {
    await sleep(1_500);
    const { rows } = await service.db.pool.query<{ attempts: number; code: string }>(
      "SELECT attempts, error->>'code' AS code FROM reconciliation_runs",
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((run) => run.attempts === 1 && run.code === 'ga4_not_configured')).toBe(true);
  });
});

describe('a scheduled run whose key file cannot be read when it runs', () => {
  let ga4: FakeGa4;
  const service = scheduledService(
    // Once a year: only the run this test hands over is run.
    { RECONCILE_CRON: '0 0 0 1 1 *', RECONCILE_RETRY_DELAY_MS: '300' },
    (fake) => (ga4 = fake),
  );

  it('is retried, and succeeds once the file can be read again (not only a restart helps)', async () => {
    const key = readFileSync(ga4.keyFile, 'utf8');
    writeFileSync(ga4.keyFile, 'not a key yet'); // read at start, gone bad since
    await service.db.pool.query(
      `INSERT INTO reconciliation_runs (trigger, scheduled_for, start_date, end_date, status, attempts, error)
       VALUES ('schedule', now(), current_date - 3, current_date - 1, 'failed', 0,
               '{"code": "interrupted", "message": "handed over"}')`,
    );
    const run = async () =>
      (
        await service.db.pool.query<{ status: string; code: string | null }>(
          "SELECT status, error->>'code' AS code FROM reconciliation_runs",
        )
      ).rows[0];
    await expect
      .poll(run, { timeout: 5_000, interval: 50 })
      .toEqual({ status: 'failed', code: 'ga4_not_configured' });
    writeFileSync(ga4.keyFile, key);
    await expect
      .poll(run, { timeout: 5_000, interval: 100 })
      .toEqual({ status: 'succeeded', code: null });
  });
});

// 25 hours apart: the two zones are never on the same day.
const REPORT_ZONE = 'Pacific/Kiritimati';
const PROPERTY_ZONE = 'Pacific/Pago_Pago';

const NO_ACCESS = { status: 403, grpcStatus: 'PERMISSION_DENIED', message: 'No access.' };

/** A scheduled service in REPORT_ZONE whose GA4 property is in PROPERTY_ZONE, for one describe. */
function serviceInTwoZones(retryDelayMs: string) {
  const ga4 = {} as { fake: FakeGa4 };
  const service = scheduledService(
    { RECONCILE_RETRY_DELAY_MS: retryDelayMs, REPORT_TIMEZONE: REPORT_ZONE },
    (fake) => {
      ga4.fake = fake;
      fake.timeZone = PROPERTY_ZONE;
    },
  );
  return { service, ga4 };
}

describe('a scheduled run that fails after GA4 told the property’s time zone', () => {
  const { service, ga4 } = serviceInTwoZones('60000');

  it('is listed with the property’s days, as the runs that succeeded are', async () => {
    const withStatus = async (status: string) =>
      (
        await service.db.pool.query<{ scheduled_for: Date; start_date: string; end_date: string }>(
          `SELECT scheduled_for, start_date::text, end_date::text FROM reconciliation_runs
           WHERE status = $1 ORDER BY scheduled_for LIMIT 1`,
          [status],
        )
      ).rows[0];
    await expect.poll(() => withStatus('succeeded'), { timeout: 5_000 }).toBeDefined();
    for (let i = 0; i < 100; i++) ga4.fake.failures.push(NO_ACCESS);
    await expect.poll(() => withStatus('failed'), { timeout: 5_000 }).toBeDefined();
    const failed = await withStatus('failed');
    const yesterdayIn = (zone: string) => addDays(dateInZone(failed.scheduled_for, zone), -1);
    expect(failed.end_date).toBe(yesterdayIn(PROPERTY_ZONE));
    expect(failed.start_date).toBe(addDays(yesterdayIn(PROPERTY_ZONE), -2));
  });

  it('takes the zone from this property’s reports only', async () => {
    const succeeded = async () =>
      (await service.db.pool.query("SELECT 1 FROM reconciliation_runs WHERE status = 'succeeded'"))
        .rows.length;
    await expect.poll(succeeded, { timeout: 5_000 }).toBeGreaterThan(0);
    // Newer than any, for another property in another zone.
    await service.db.pool.query(
      `INSERT INTO reconciliation_runs (trigger, start_date, end_date, status, finished_at, report)
       VALUES ('command', current_date, current_date, 'succeeded', now() + interval '1 hour',
               '{"property_id": "999", "time_zone": "${REPORT_ZONE}"}')`,
    );
    const since = new Date();
    if (ga4.fake.failures.length < 10)
      for (let i = 0; i < 10; i++) ga4.fake.failures.push(NO_ACCESS);
    const failedSince = async () =>
      (
        await service.db.pool.query<{ scheduled_for: Date; end_date: string }>(
          `SELECT scheduled_for, end_date::text FROM reconciliation_runs
           WHERE status = 'failed' AND scheduled_for > $1 ORDER BY scheduled_for LIMIT 1`,
          [since],
        )
      ).rows[0];
    await expect.poll(failedSince, { timeout: 5_000 }).toBeDefined();
    const failed = await failedSince();
    expect(failed.end_date).toBe(addDays(dateInZone(failed.scheduled_for, PROPERTY_ZONE), -1));
  });
});

describe('a tick whose claim failed while the database was away', () => {
  const { service, ga4 } = serviceInTwoZones('300');

  it('counts its days again on the retry, in the zone it can read by then', async () => {
    const succeeded = async () =>
      (await service.db.pool.query("SELECT 1 FROM reconciliation_runs WHERE status = 'succeeded'"))
        .rows.length;
    await expect.poll(succeeded, { timeout: 5_000 }).toBeGreaterThan(0);
    // From here on every run fails, so a run keeps the days it was claimed with.
    for (let i = 0; i < 100; i++) ga4.fake.failures.push(NO_ACCESS);
    const runs = service.app.get(ReconciliationRunRepository);
    // The next tick reads no zone (REPORT_TIMEZONE's days) and then fails to claim.
    let zoneReadFailed = false;
    let tickOfFailedClaim: Date | undefined;
    const readZone = runs.lastPropertyTimeZone.bind(runs);
    const claimTick = runs.claimTick.bind(runs);
    vi.spyOn(runs, 'lastPropertyTimeZone').mockImplementation(async (propertyId) => {
      if (zoneReadFailed) return readZone(propertyId);
      zoneReadFailed = true;
      throw new Error('connection refused');
    });
    vi.spyOn(runs, 'claimTick').mockImplementation(async (sql, run, lease) => {
      if (!zoneReadFailed || tickOfFailedClaim !== undefined) return claimTick(sql, run, lease);
      tickOfFailedClaim = run.scheduledFor;
      throw new Error('connection refused');
    });
    const retried = async () =>
      tickOfFailedClaim === undefined
        ? undefined
        : (
            await service.db.pool.query<{ end_date: string }>(
              `SELECT end_date::text FROM reconciliation_runs
               WHERE scheduled_for = $1 AND status = 'failed'`,
              [tickOfFailedClaim],
            )
          ).rows[0];
    await expect.poll(retried, { timeout: 5_000 }).toBeDefined();
    expect((await retried())!.end_date).toBe(
      addDays(dateInZone(tickOfFailedClaim!, PROPERTY_ZONE), -1),
    );
  });
});

describe('a retry that finds another replica holding the schedule lock', () => {
  const service = scheduledService({ RECONCILE_RETRY_DELAY_MS: '300' }, (fake) =>
    fake.failures.push({ status: 403, grpcStatus: 'PERMISSION_DENIED', message: 'Not yet.' }),
  );
  const failedRun = async () =>
    (
      await service.db.pool.query<{ id: string }>(
        "SELECT id FROM reconciliation_runs WHERE status = 'failed'",
      )
    ).rows[0];

  it('waits for its turn instead of being dropped', async () => {
    let failed = await failedRun();
    while (!failed) {
      await sleep(20);
      failed = await failedRun();
    }
    const failedId = failed.id;
    // Held as another replica's run would hold it, past the retry's 300 ms delay.
    const holder = await service.db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(
        "SELECT pg_advisory_xact_lock(hashtext('conversion-tracking:reconciliation-schedule'))",
      );
      await sleep(1_000);
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    await expect
      .poll(
        async () =>
          (
            await service.db.pool.query(
              'SELECT status, attempts FROM reconciliation_runs WHERE id = $1',
              [failedId],
            )
          ).rows[0],
        { timeout: 5_000 },
      )
      .toEqual({ status: 'succeeded', attempts: 2 });
    await service.app.get(ReconciliationScheduler).beforeApplicationShutdown();
  });
});

describe('a scheduled run waiting on GA4 when the service stops', () => {
  let ga4!: FakeGa4;
  const service = scheduledService({ GA4_TIMEOUT_MS: '60000', GA4_RETRIES: '0' }, (fake) => {
    ga4 = fake;
    fake.delayMs = 60_000;
  });

  it('stops waiting, stores the run as failed with the reason, and lets the process stop at once', async () => {
    await expect
      .poll(() => ga4.calls.filter((call) => call.path.endsWith(':runReport')).length, {
        timeout: 5_000,
      })
      .toBe(1);
    const started = Date.now();
    await service.app.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    const { rows } = await service.db.pool.query('SELECT status, error FROM reconciliation_runs');
    expect(rows).toEqual([
      {
        status: 'failed',
        error: expect.objectContaining({
          code: 'interrupted',
          message: expect.stringContaining('stopped before the run was done'),
        }),
      },
    ]);
  });

  it('is run again by another replica, whose own schedule has no tick due', async () => {
    ga4.delayMs = 0;
    const replica = await createTestApp(service.db.url, {
      API_KEYS: KEY,
      ...ga4.env(),
      RECONCILE_CRON: '0 0 0 1 1 *', // once a year: only the interrupted run can be run here
      RECONCILE_RETRY_DELAY_MS: '200',
      RECONCILE_EVENT_TYPES: 'purchase',
    });
    try {
      await expect
        .poll(
          async () =>
            (await service.db.pool.query('SELECT status, attempts FROM reconciliation_runs')).rows,
          { timeout: 10_000, interval: 100 },
        )
        .toEqual([{ status: 'succeeded', attempts: 1 }]);
      // Taken up once: later looks find nothing left to run.
      await sleep(1_500);
      expect(
        ga4.calls.filter((call) => call.path.endsWith(':runReport')).length,
      ).toBeLessThanOrEqual(3);
      expect(
        (await service.db.pool.query('SELECT attempts FROM reconciliation_runs')).rows,
      ).toEqual([{ attempts: 1 }]);
    } finally {
      await replica.close();
    }
  });
});

describe('a failed scheduled run waiting for its retry when the service stops', () => {
  const fake = new FakeGa4();
  let db: TestDatabase;
  beforeAll(async () => {
    await fake.start();
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
    await fake.stop();
  });
  const start = (env: Record<string, string>) =>
    createTestApp(db.url, {
      API_KEYS: KEY,
      ...fake.env(),
      RECONCILE_EVENT_TYPES: 'purchase',
      GA4_RETRIES: '0',
      ...env,
    });
  const runs = async () =>
    (
      await db.pool.query(
        'SELECT status, attempts, error FROM reconciliation_runs ORDER BY scheduled_for',
      )
    ).rows;

  /** A replica whose one tick, two seconds from now, fails: its retry would come a minute later. */
  const failingFirstTick = async () => {
    fake.failures.push({ status: 403, grpcStatus: 'PERMISSION_DENIED', message: 'Not yet.' });
    const second = (new Date().getUTCSeconds() + 2) % 60;
    const replica = await start({
      RECONCILE_CRON: `${second} * * * * *`,
      RECONCILE_RETRY_DELAY_MS: '60000',
    });
    try {
      await expect
        .poll(runs, { timeout: 10_000, interval: 100 })
        .toEqual([
          { status: 'failed', attempts: 1, error: expect.objectContaining({ code: 'ga4_error' }) },
        ]);
    } catch (error) {
      await replica.close();
      throw error;
    }
    return replica;
  };
  /** Another replica, with no tick of its own due, makes the retry. */
  const expectRetriedElsewhere = async () => {
    const replica = await start({ RECONCILE_CRON: '0 0 0 1 1 *', RECONCILE_RETRY_DELAY_MS: '200' });
    try {
      await expect
        .poll(runs, { timeout: 10_000, interval: 100 })
        .toEqual([{ status: 'succeeded', attempts: 2, error: null }]);
    } finally {
      await replica.close();
    }
  };

  it('hands the retry over, and another replica makes it', async () => {
    const first = await failingFirstTick();
    await first.close();
    expect(await runs()).toEqual([
      { status: 'failed', attempts: 1, error: expect.objectContaining({ code: 'interrupted' }) },
    ]);
    await expectRetriedElsewhere();
  });

  it('takes over a retry whose replica died while holding it (its hold lapsed)', async () => {
    await db.pool.query('TRUNCATE reconciliation_runs');
    const first = await failingFirstTick();
    try {
      // Held for its retry, a minute and a lease away.
      await expect
        .poll(
          async () =>
            (
              await db.pool.query(
                `SELECT lease_until > clock_timestamp() + interval '50 seconds' AS held
                 FROM reconciliation_runs WHERE lease_owner IS NOT NULL`,
              )
            ).rows,
          { timeout: 5_000, interval: 100 },
        )
        .toEqual([{ held: true }]);
    } finally {
      // What a SIGKILL leaves: no hand-over at the stop, then the hold lapses (below).
      first.get(ReconciliationRunRepository).markInterrupted = () => Promise.resolve();
      await first.close();
    }
    await db.pool.query(
      `UPDATE reconciliation_runs SET lease_until = clock_timestamp() - interval '1 second'`,
    );
    expect(await runs()).toEqual([
      { status: 'failed', attempts: 1, error: expect.objectContaining({ code: 'ga4_error' }) },
    ]);
    await expectRetriedElsewhere();
  });

  it('hands over a retry that was due but queued behind another run when the service stops', async () => {
    await db.pool.query('TRUNCATE reconciliation_runs');
    const callsBefore = fake.runReportCalls.length;
    fake.failures.push({ status: 403, grpcStatus: 'PERMISSION_DENIED', message: 'Not yet.' });
    // Two ticks a second apart: the first fails, and its retry comes due while the second
    // waits on a slow GA4, so it queues behind it.
    const first = (new Date().getUTCSeconds() + 3) % 60;
    const app = await start({
      RECONCILE_CRON: `${first},${(first + 1) % 60} * * * * *`,
      RECONCILE_RETRY_DELAY_MS: '1500',
    });
    try {
      await expect
        .poll(runs, { timeout: 10_000, interval: 50 })
        .toEqual([expect.objectContaining({ status: 'failed' })]);
      fake.delayMs = 10_000;
      // The second tick's run is in GA4's hands.
      await expect.poll(() => fake.runReportCalls.length - callsBefore, { timeout: 5_000 }).toBe(2);
      await sleep(1_000); // the first run's retry has come due meanwhile
    } finally {
      await app.close();
      fake.delayMs = 0;
    }
    // Neither is lost: another replica takes over the latest (a cut-short attempt is not counted).
    expect(await runs()).toEqual([
      { status: 'failed', attempts: 1, error: expect.objectContaining({ code: 'interrupted' }) },
      { status: 'failed', attempts: 0, error: expect.objectContaining({ code: 'interrupted' }) },
    ]);
  });
});
