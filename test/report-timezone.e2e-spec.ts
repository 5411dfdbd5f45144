import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

describe('REPORT_TIMEZONE', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('stops the start, naming it, when Node knows the zone but PostgreSQL does not', async () => {
    // In Node's (ICU's) list, not in PostgreSQL's: every report would be a 500.
    await expect(createTestApp(db.url, { REPORT_TIMEZONE: 'US/Pacific-New' })).rejects.toThrow(
      /REPORT_TIMEZONE="US\/Pacific-New" is not a time zone PostgreSQL knows/,
    );
  });

  it('stops the start, naming it, when PostgreSQL reads the name as an abbreviation of another time', async () => {
    // Node: India (+05:30), Los Angeles, Brussels with summer time. PostgreSQL: +02:00, -08:00, +01:00.
    for (const zone of ['IST', 'PST', 'CET']) {
      await expect(createTestApp(db.url, { REPORT_TIMEZONE: zone })).rejects.toThrow(
        new RegExp(
          `REPORT_TIMEZONE="${zone}" is an abbreviation to PostgreSQL, another time there .* use a region name`,
        ),
      );
    }
  });

  it('starts with a zone both know, abbreviations both read alike included', async () => {
    for (const zone of ['Etc/GMT+5', 'Asia/Kolkata', 'EST', 'UTC']) {
      const app = await createTestApp(db.url, { REPORT_TIMEZONE: zone });
      await app.close();
    }
  });
});

/**
 * Where a clock goes back at midnight (America/Havana, early November), a day's first
 * hour happens twice: each report must give it to that day, as the rollup does.
 */
describe('a day that starts twice (America/Havana)', () => {
  const ZONE = 'America/Havana';
  const KEY = 'havana-key-0123456789abcdef';
  let db: TestDatabase;
  let app: NestFastifyApplication;
  let day: string;
  let firstHour: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    // The last such day within a year, by this PostgreSQL's zone data: the instant an hour
    // before "midnight" is still on that day.
    const { rows } = await db.pool.query<{ day: string; first_hour: Date }>(
      `SELECT d::date::text AS day, (d::timestamp AT TIME ZONE $1) - interval '30 minutes' AS first_hour
       FROM generate_series(current_date - 360, current_date - 1, interval '1 day') AS d
       WHERE (((d::timestamp AT TIME ZONE $1) - interval '1 hour') AT TIME ZONE $1)::date = d::date
       ORDER BY d DESC LIMIT 1`,
      [ZONE],
    );
    if (rows.length === 0) throw new Error(`no day of the last year starts twice in ${ZONE}`);
    day = rows[0].day;
    firstHour = rows[0].first_hour.toISOString();
    app = await createTestApp(db.url, {
      REPORT_TIMEZONE: ZONE,
      API_KEYS: KEY,
      TRACK_MAX_EVENT_AGE_HOURS: String(24 * 365),
    });
    for (const event_type of ['page_view', 'purchase'])
      await request(app.getHttpServer())
        .post('/v1/events/track')
        .send(anEvent({ visitor_id: 'havana', event_type, occurred_at: firstHour }))
        .expect(200);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const get = async (path: string) =>
    (await request(app.getHttpServer()).get(path).set('X-API-Key', KEY).expect(200)).body;
  const previous = () =>
    new Date(Date.parse(`${day}T12:00:00Z`) - 86_400_000).toISOString().slice(0, 10);

  it('counts its first hour on that day in conversions, from the rollup and from raw events', async () => {
    for (const lookback of ['', '&lookback_days=7']) {
      const on = await get(`/v1/events/conversions?start_date=${day}&end_date=${day}${lookback}`);
      expect(on.totals.conversions).toBe(1);
      expect(on.daily).toEqual([{ date: day, conversions: 1 }]);
      const before = `/v1/events/conversions?start_date=${previous()}&end_date=${previous()}`;
      expect((await get(`${before}${lookback}`)).totals.conversions).toBe(0);
    }
  });

  it('counts a subject entering the funnel then on that day', async () => {
    const on = await get(`/v1/funnels/default?start_date=${day}&end_date=${day}`);
    expect(on.stages[0]).toMatchObject({ stage: 'visit', subjects: 1 });
    const before = await get(`/v1/funnels/default?start_date=${previous()}&end_date=${previous()}`);
    expect(before.stages[0]).toMatchObject({ stage: 'visit', subjects: 0 });
  });
});
