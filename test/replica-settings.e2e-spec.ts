import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsFingerprint } from '../src/reporting/rollup/attribution-pass';
import { anEvent } from './support/event-factory';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

const KEY = 'settings-key-0123456789';

/**
 * A rolling change of CONVERSION_EVENT_TYPES: the replica started last restarts the
 * rollup for its settings, and one still running the old ones must not fold into it.
 */
describe('replicas with different attribution settings on one database', () => {
  let db: TestDatabase;
  let older: NestFastifyApplication;
  let newer: NestFastifyApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    older = await createTestApp(db.url, { API_KEYS: KEY });
    newer = await createTestApp(db.url, { API_KEYS: KEY, CONVERSION_EVENT_TYPES: 'purchase' });
  });
  afterAll(async () => {
    await older?.close();
    await newer?.close();
    await db?.drop();
  });

  const conversions = async (app: NestFastifyApplication) => {
    const response = await request(app.getHttpServer())
      .get('/v1/events/conversions')
      .set('X-API-Key', KEY)
      .expect(200);
    return response.body.totals.conversions as number;
  };

  it('each answers by its own settings, and the rollup keeps the newer ones', async () => {
    for (const eventType of ['add_to_cart', 'purchase']) {
      await request(older.getHttpServer())
        .post('/v1/events/track')
        .send(anEvent({ event_type: eventType, visitor_id: 'rolling-visitor' }))
        .expect(200);
    }
    // The older replica's report drains marks first: it must not fold them its way...
    expect(await conversions(older)).toBe(2);
    // ...so the rollup the newer one reads holds its own definition of a conversion.
    expect(await conversions(newer)).toBe(1);
    expect(await conversions(older)).toBe(2);
  });
});

/**
 * A replica starting with new settings recomputes all credit: on a large database that
 * takes longer than any statement timeout, and other replicas keep tracking meanwhile.
 */
describe('a replica starting with new attribution settings', () => {
  let db: TestDatabase;
  const apps: NestFastifyApplication[] = [];
  const berlin = settingsFingerprint({ timeZone: 'Europe/Berlin', conversionTypes: undefined });
  const storedFingerprint = async () =>
    (await db.pool.query<{ fingerprint: string }>('SELECT fingerprint FROM attribution_state'))
      .rows[0]?.fingerprint;
  const start = async (env: Record<string, string>) => {
    const app = await createTestApp(db.url, { DB_STATEMENT_TIMEOUT_MS: '500', ...env });
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    await start({}); // the rollup under the default settings
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
  });

  it('starts while another process holds the refresh lock, and recomputes once it is free', async () => {
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(
        "SELECT pg_advisory_xact_lock(hashtext('conversion-tracking:attribution-refresh'))",
      );
      await start({ REPORT_TIMEZONE: 'Europe/Berlin' });
      expect(await storedFingerprint()).not.toBe(berlin);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    await expect.poll(storedFingerprint, { timeout: 5_000 }).toBe(berlin);
  });

  it('keeps the rollup readable while it marks every subject, taking it only at the end', async () => {
    const events = await db.pool.connect();
    const reader = await db.pool.connect();
    try {
      // The marking reads events: held up here, as a large table would hold it.
      await events.query('BEGIN');
      await events.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
      const starting = start({ REPORT_TIMEZONE: 'Asia/Tokyo' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      await reader.query("SET lock_timeout = '200ms'");
      // What a rollup report reads: not held by the rebuild under way.
      await reader.query('SELECT count(*) FROM attribution_daily');
      await events.query('COMMIT');
      await starting;
      expect(await storedFingerprint()).toBe(
        settingsFingerprint({ timeZone: 'Asia/Tokyo', conversionTypes: undefined }),
      );
    } finally {
      await events.query('ROLLBACK').catch(() => undefined);
      events.release();
      await reader.query('RESET lock_timeout');
      reader.release();
    }
  });

  it('recomputes past the statement timeout, without waiting on the writes that add marks', async () => {
    const tracking = await db.pool.connect();
    const reading = await db.pool.connect();
    try {
      // A track statement in flight holds attribution_marks; a report reads attribution_daily.
      await tracking.query('BEGIN');
      await tracking.query(
        "INSERT INTO attribution_marks (kind, identity, since) VALUES ('v', 'in-flight', now())",
      );
      await reading.query('BEGIN');
      await reading.query('SELECT count(*) FROM attribution_daily');
      // Longer than the statement timeout and the driver's own margin after it (1 s).
      setTimeout(() => void reading.query('COMMIT'), 3_000);
      await start({ REPORT_TIMEZONE: 'America/New_York' });
      expect(await storedFingerprint()).toBe(
        settingsFingerprint({ timeZone: 'America/New_York', conversionTypes: undefined }),
      );
    } finally {
      await tracking.query('ROLLBACK');
      tracking.release();
      reading.release();
    }
  });
});
