import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from './support/api-client';
import type { components } from './support/api-schema';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

type FunnelReport = components['schemas']['FunnelReportResponseDto'];
type ErrorResponse = components['schemas']['ErrorResponseDto'];

const KEY = 'test-key-0123456789abcdef';

describe('GET /v1/funnels/{funnel}', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    const dir = await mkdtemp(join(tmpdir(), 'ct-funnels-'));
    const funnelsFile = join(dir, 'funnels.json');
    await writeFile(
      funnelsFile,
      JSON.stringify({
        funnels: [
          {
            name: 'default',
            stages: [
              { name: 'visit', event_types: ['page_view'] },
              { name: 'lead', event_types: ['generate_lead'] },
              { name: 'signup', event_types: ['sign_up'] },
              { name: 'customer', event_types: ['purchase'] },
            ],
          },
          {
            name: 'trial',
            stages: [
              { name: 'started', event_types: ['trial_start'] },
              { name: 'converted', event_types: ['subscribe'] },
            ],
          },
        ],
      }),
    );
    app = await createTestApp(db.url, {
      API_KEYS: `other-key-0123456789,${KEY}`,
      FUNNELS_FILE: funnelsFile,
    });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const move = (body: Record<string, unknown>) =>
    request(app.getHttpServer()).post('/v1/events/funnel').send(body).expect(200);
  /** Through the generated client (Bearer key); the answer is checked against openapi.json. */
  const report = async (path: string, status: number) => {
    const url = new URL(path, 'http://service.test');
    const result = await apiClient(app, { Authorization: `Bearer ${KEY}` }).GET(
      '/v1/funnels/{funnel}',
      {
        params: {
          path: { funnel: url.pathname.split('/').pop()! },
          query: Object.fromEntries(url.searchParams),
        },
      },
    );
    expect(result.response.status).toBe(status);
    // One of the two, by status; the tests read whichever they expect.
    return { body: (result.data ?? result.error) as FunnelReport & ErrorResponse };
  };

  it('needs an API key: Bearer or X-API-Key, 401 otherwise', async () => {
    const missing = await request(app.getHttpServer()).get('/v1/funnels/default').expect(401);
    expect(missing.body).toMatchObject({ success: false, error: { code: 'unauthorized' } });
    await request(app.getHttpServer())
      .get('/v1/funnels/default')
      .set('Authorization', 'Bearer wrong-key-0123456789')
      .expect(401);
    await request(app.getHttpServer()).get('/v1/funnels/default').set('X-API-Key', KEY).expect(200);
    await request(app.getHttpServer())
      .get('/v1/funnels/default')
      .set('Authorization', `Bearer ${KEY}`)
      .expect(200);
    // One valid key is enough, whichever header carries it.
    for (const [bearer, apiKey] of [
      [KEY, 'wrong-key-0123456789'],
      ['wrong-key-0123456789', KEY],
    ])
      await request(app.getHttpServer())
        .get('/v1/funnels/default')
        .set('Authorization', `Bearer ${bearer}`)
        .set('X-API-Key', apiKey)
        .expect(200);
    // The header again (a proxy adding it), as another line or folded into one: the same
    // key counts once; different keys in one request are refused, not tried each.
    const twice = (lines: string[]) => lines as unknown as string;
    const withApiKey = (value: string) =>
      request(app.getHttpServer()).get('/v1/funnels/default').set('X-API-Key', value);
    await withApiKey(twice([KEY, KEY])).expect(200);
    await withApiKey(`${KEY}, ${KEY}`).expect(200);
    for (const value of [twice(['wrong-key-0123456789', KEY]), `wrong-key-0123456789, ${KEY}`])
      expect((await withApiKey(value).expect(401)).body.error.message).toBe(
        'X-API-Key carries different keys',
      );
  });

  it('counts subjects that entered in the range, per stage reached or passed, with conversion and median time', async () => {
    const now = Date.now();
    const iso = (hoursAgo: number) => new Date(now - hoursAgo * 3_600_000).toISOString();
    // s1: visit → lead (1 h) → signup (2 h); s2: visit → lead (3 h); s3: visit only; s4: straight to signup (skips).
    await move({ user_id: 's1', stage: 'visit', occurred_at: iso(10) });
    await move({ user_id: 's1', stage: 'lead', occurred_at: iso(9) });
    await move({ user_id: 's1', stage: 'signup', occurred_at: iso(7) });
    await move({ user_id: 's2', stage: 'visit', occurred_at: iso(10) });
    await move({ user_id: 's2', stage: 'lead', occurred_at: iso(7) });
    await move({ user_id: 's3', stage: 'visit', occurred_at: iso(5) });
    await move({ user_id: 's4', stage: 'signup', occurred_at: iso(4) });
    await move({ user_id: 'other-funnel', funnel: 'trial', stage: 'started' });

    const response = await report('/v1/funnels/default', 200);
    expect(response.body).toMatchObject({ funnel: 'default', timezone: 'UTC' });
    expect(response.body.stages).toEqual([
      {
        stage: 'visit',
        subjects: 4,
        conversion_from_previous: null,
        conversion_from_first: 1,
        median_seconds_from_previous: null,
      },
      // s1 (1 h), s2 (3 h), s4 (0: skipped at once) → median 1 h
      {
        stage: 'lead',
        subjects: 3,
        conversion_from_previous: 0.75,
        conversion_from_first: 0.75,
        median_seconds_from_previous: 3600,
      },
      // s1 (2 h), s4 (0) → median 1 h
      {
        stage: 'signup',
        subjects: 2,
        conversion_from_previous: 0.6667,
        conversion_from_first: 0.5,
        median_seconds_from_previous: 3600,
      },
      {
        stage: 'customer',
        subjects: 0,
        conversion_from_previous: 0,
        conversion_from_first: 0,
        median_seconds_from_previous: null,
      },
    ]);
  });

  it('counts only subjects that entered the funnel within the date range', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const future = await report(
      `/v1/funnels/default?start_date=${tomorrow}&end_date=${tomorrow}`,
      200,
    );
    expect(future.body.stages[0]).toMatchObject({ stage: 'visit', subjects: 0 });
    const current = await report(
      `/v1/funnels/default?start_date=${twoDaysAgo}&end_date=${today}`,
      200,
    );
    expect(current.body).toMatchObject({ start_date: twoDaysAgo, end_date: today });
    expect(current.body.stages[0].subjects).toBe(4);
  });

  it('reports funnels from FUNNELS_FILE', async () => {
    const response = await report('/v1/funnels/trial', 200);
    expect(
      response.body.stages.map((s: { stage: string; subjects: number }) => [s.stage, s.subjects]),
    ).toEqual([
      ['started', 1],
      ['converted', 0],
    ]);
  });

  it('answers bad dates with 400 and an unknown funnel with 404', async () => {
    const bad = await report('/v1/funnels/default?start_date=2026-02-30', 400);
    expect(bad.body.error.details).toEqual([{ field: 'start_date', message: expect.any(String) }]);
    await report('/v1/funnels/default?start_date=2026-03-02&end_date=2026-03-01', 400);
    await report('/v1/funnels/default?start_date=2024-01-01&end_date=2026-01-01', 400);
    const unknown = await report('/v1/funnels/nope', 404);
    expect(unknown.body.error.code).toBe('not_found');
  });

  it('keeps subjects apart by type and by funnel: a visitor and a user of one id, the user in two funnels', async () => {
    // Days of their own (about three days ago), apart from the other tests' subjects.
    const base = Date.now() - 71 * 3_600_000;
    const at = (hours: number) => new Date(base + hours * 3_600_000).toISOString();
    await move({ visitor_id: 'same', stage: 'visit', occurred_at: at(0) });
    await move({ visitor_id: 'same', stage: 'signup', occurred_at: at(1) }); // lead skipped
    await move({ user_id: 'same', funnel: 'trial', stage: 'started', occurred_at: at(0) });
    await move({ user_id: 'same', stage: 'visit', occurred_at: at(1) });
    await move({ user_id: 'same', stage: 'lead', occurred_at: at(3) });
    const day = (hours: number) => at(hours).slice(0, 10);
    const response = await report(
      `/v1/funnels/default?start_date=${day(0)}&end_date=${day(3)}`,
      200,
    );
    expect(
      response.body.stages.map((s) => [s.stage, s.subjects, s.median_seconds_from_previous]),
    ).toEqual([
      ['visit', 2, null],
      // The visitor 1 h (skipped at signup), the user 2 h: the trial does not count.
      ['lead', 2, 5_400],
      ['signup', 1, 0],
      ['customer', 0, null],
    ]);
  });
});

describe('read endpoints without API_KEYS', () => {
  it('stay closed', async () => {
    const db = await createTestDatabase();
    const app = await createTestApp(db.url, { API_KEYS: '' });
    try {
      await request(app.getHttpServer())
        .get('/v1/funnels/default')
        .set('X-API-Key', 'anything-at-all-123')
        .expect(401);
    } finally {
      await app.close();
      await db.drop();
    }
  });
});
