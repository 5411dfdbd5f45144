import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

describe('per-IP rate limit on the public endpoints', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(async () => {
    await db?.drop();
  });

  const track = (from?: string) => {
    const call = request(app!.getHttpServer())
      .post('/v1/events/track')
      .set('Content-Type', 'application/json');
    return (from ? call.set('X-Forwarded-For', from) : call).send(JSON.stringify(anEvent()));
  };

  it('answers 429 with Retry-After in the error envelope once RATE_LIMIT_PER_MINUTE is used up', async () => {
    app = await createTestApp(db.url, { RATE_LIMIT_PER_MINUTE: '3' });
    const first = await track().expect(200);
    // As openapi.json documents them, on every answer of a public write.
    expect(first.headers).toMatchObject({ 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '2' });
    const refused = await request(app.getHttpServer())
      .post('/v1/events/track')
      .send({ event_type: 'page_view' })
      .expect(400);
    expect(refused.headers).toMatchObject({ 'x-ratelimit-remaining': '1' });
    expect(Number(refused.headers['x-ratelimit-reset'])).toBeGreaterThan(0);
    await track().expect(200);
    const limited = await track().expect(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.body).toMatchObject({
      success: false,
      error: { code: 'rate_limited' },
      request_id: expect.any(String),
    });
  });

  it('shares one budget across the public write endpoints, and leaves other endpoints alone', async () => {
    app = await createTestApp(db.url, { RATE_LIMIT_PER_MINUTE: '3' });
    await request(app.getHttpServer())
      .post('/v1/events/funnel')
      .send({ visitor_id: 'v_rate', stage: 'lead' })
      .expect(200);
    await track().expect(200);
    await request(app.getHttpServer())
      .post('/v1/events/track/batch')
      .send({ events: [anEvent()] })
      .expect(200);
    await track().expect(429);
    await request(app.getHttpServer()).get('/health').expect(200);
  });

  it('ignores a forged X-Forwarded-For unless TRUST_PROXY is set', async () => {
    app = await createTestApp(db.url, { RATE_LIMIT_PER_MINUTE: '2' });
    await track('203.0.113.1').expect(200);
    await track('203.0.113.2').expect(200);
    await track('203.0.113.3').expect(429);
  });

  it('limits per forwarded client, and stores only its truncated address, behind a trusted proxy', async () => {
    app = await createTestApp(db.url, { RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: 'true' });
    await track('203.0.113.77').expect(200);
    await track('203.0.113.77').expect(429);
    await track('2001:db8:abcd:12::1').expect(200);
    // One IPv6 /64 is one client; junk in the trusted header counts as the proxy that sent it.
    await track('2001:db8:abcd:12:ffff::2').expect(429);
    await track('junk-1').expect(200);
    await track('junk-2').expect(429);
    const { rows } = await db.pool.query(
      "SELECT ip_prefix FROM events WHERE ip_prefix IS DISTINCT FROM '127.0.0.0/24' ORDER BY received_at",
    );
    expect(rows.map((r) => r.ip_prefix)).toEqual(['203.0.113.0/24', '2001:db8:abcd::/48', null]);
  });

  it('turns off with RATE_LIMIT_PER_MINUTE=0', async () => {
    app = await createTestApp(db.url, { RATE_LIMIT_PER_MINUTE: '0' });
    for (let i = 0; i < 5; i++) await track().expect(200);
  });
});
