import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

describe('CORS allow-list on the public endpoints', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await createTestApp(db.url, {
      CORS_ORIGINS: 'https://shop.example.com, https://*.example.org, http://localhost:8080',
    });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const preflight = (origin: string, path = '/v1/events/track') =>
    request(app.getHttpServer())
      .options(path)
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type,x-request-id');
  const postFrom = (origin: string | undefined, body = anEvent()) => {
    const call = request(app.getHttpServer())
      .post('/v1/events/track')
      .set('Content-Type', 'application/json');
    return (origin ? call.set('Origin', origin) : call).send(JSON.stringify(body));
  };
  const stored = async (eventId: unknown) =>
    Number(
      (await db.pool.query('SELECT count(*) FROM events WHERE event_id = $1', [eventId])).rows[0]
        .count,
    );

  it.each([
    'https://shop.example.com',
    'https://a.example.org',
    'https://deep.sub.example.org',
    'http://localhost:8080',
  ])(
    'answers a preflight from allowed %s with that origin, credentials and the requested headers',
    async (origin) => {
      const response = await preflight(origin).expect(200);
      expect(response.headers['access-control-allow-origin']).toBe(origin);
      expect(response.headers['access-control-allow-credentials']).toBe('true');
      expect(response.headers['access-control-allow-methods']).toMatch(/POST/);
      expect(response.headers['access-control-allow-methods']).toMatch(/OPTIONS/);
      expect(response.headers['access-control-allow-headers'].toLowerCase()).toEqual(
        expect.stringContaining('content-type'),
      );
      expect(response.headers['access-control-allow-headers'].toLowerCase()).toEqual(
        expect.stringContaining('x-request-id'),
      );
      expect(response.headers['access-control-allow-headers'].toLowerCase()).toEqual(
        expect.stringContaining('authorization'),
      );
      expect(Number(response.headers['access-control-max-age'])).toBeGreaterThan(0);
      expect(response.headers.vary).toMatch(/Origin/);
    },
  );

  it.each([
    'https://evil.com',
    'https://example.org', // the wildcard covers subdomains, not the apex
    'https://shop.example.com.evil.com',
    'https://evilexample.org',
    'http://shop.example.com', // scheme matters
    'https://shop.example.com:8443', // port matters
    'HTTPS://SHOP.EXAMPLE.COM', // browsers never send this form
    'null',
  ])(
    'refuses a preflight from %s with 403 and no Access-Control-Allow-* headers',
    async (origin) => {
      const response = await preflight(origin).expect(403);
      expect(
        Object.keys(response.headers).filter((h) => h.startsWith('access-control-allow')),
      ).toEqual([]);
      expect(response.body).toMatchObject({
        success: false,
        error: { code: 'origin_not_allowed' },
      });
    },
  );

  it.each(['/v1/events/track/batch', '/v1/events/funnel'])(
    'answers the preflight of %s the same way',
    async (path) => {
      const response = await preflight('https://shop.example.com', path).expect(200);
      expect(response.headers['access-control-allow-origin']).toBe('https://shop.example.com');
      expect(response.headers['access-control-allow-credentials']).toBe('true');
      await preflight('https://evil.com', path).expect(403);
    },
  );

  it('answers a preflight whatever Content-Type or body comes with it: only the origin is checked, as openapi.json says', async () => {
    const document = JSON.parse(readFileSync(join(__dirname, '..', 'openapi.json'), 'utf8')) as {
      paths: Record<string, { options: { responses: Record<string, unknown> } }>;
    };
    for (const path of ['/v1/events/track', '/v1/events/track/batch', '/v1/events/funnel']) {
      expect(Object.keys(document.paths[path].options.responses).sort()).toEqual(['200', '403']);
      for (const [type, body] of [
        ['application/json', undefined],
        ['text/plain', undefined],
        ['application/json', '{bad'],
        ['application/xml', '<x/>'],
        ['multipart/form-data; boundary=x', '--x--'],
      ] as const) {
        const allowed = preflight('https://shop.example.com', path).set('Content-Type', type);
        const response = await (body === undefined ? allowed : allowed.send(body)).expect(200);
        expect(response.headers['access-control-allow-origin']).toBe('https://shop.example.com');
        expect(response.headers['access-control-allow-methods']).toBe('POST, OPTIONS');
        const refused = preflight('https://evil.com', path).set('Content-Type', type);
        await (body === undefined ? refused : refused.send(body)).expect(403);
      }
    }
  });

  it('allows a header the page asks for beyond the usual ones', async () => {
    const response = await preflight('https://shop.example.com')
      .set('Access-Control-Request-Headers', 'content-type, X-Requested-With, bad header')
      .expect(200);
    const allowed = response.headers['access-control-allow-headers'].toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['content-type', 'x-requested-with']));
    expect(allowed).not.toContain('bad header');
  });

  it('sends the origin and credentials headers on the actual POST from an allowed origin', async () => {
    const event = anEvent();
    const response = await postFrom('https://shop.example.com', event).expect(200);
    expect(response.headers['access-control-allow-origin']).toBe('https://shop.example.com');
    expect(response.headers['access-control-allow-credentials']).toBe('true');
    // so that the page can read them
    expect(response.headers['access-control-expose-headers']).toMatch(/X-Request-Id/);
    expect(response.headers['access-control-expose-headers']).toMatch(/Retry-After/);
    expect(response.headers['access-control-expose-headers']).toMatch(/X-RateLimit-Remaining/);
    expect(await stored(event.event_id)).toBe(1);
  });

  it('refuses a POST from a disallowed origin with 403 and stores nothing', async () => {
    const event = anEvent();
    const response = await postFrom('https://evil.com', event).expect(403);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect(response.body.error.code).toBe('origin_not_allowed');
    expect(await stored(event.event_id)).toBe(0);
  });

  it('refuses a disallowed origin on the batch endpoint too', async () => {
    const event = anEvent();
    await request(app.getHttpServer())
      .post('/v1/events/track/batch')
      .set('Origin', 'https://evil.com')
      .send({ events: [event] })
      .expect(403);
    expect(await stored(event.event_id)).toBe(0);
  });

  it('allows server-to-server calls without an Origin and sends no CORS headers', async () => {
    const event = anEvent();
    const response = await postFrom(undefined, event).expect(200);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect(await stored(event.event_id)).toBe(1);
  });

  it('takes an empty Origin header for none: no browser sends one, and it names no site', async () => {
    const event = anEvent();
    const response = await request(app.getHttpServer())
      .post('/v1/events/track')
      .set('Content-Type', 'application/json')
      .set('Origin', '')
      .send(JSON.stringify(event))
      .expect(200);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    const { rows } = await db.pool.query('SELECT origin FROM events WHERE event_id = $1', [
      event.event_id,
    ]);
    expect(rows).toEqual([{ origin: null }]);
  });

  it('lets a page read the 405 of a public path asked with another method, as its other errors', async () => {
    for (const path of ['/v1/events/track', '/v1/events/track/batch', '/v1/events/funnel']) {
      const response = await request(app.getHttpServer())
        .get(path)
        .set('Origin', 'https://shop.example.com')
        .expect(405);
      expect(response.headers['access-control-allow-origin']).toBe('https://shop.example.com');
      expect(response.headers['access-control-allow-credentials']).toBe('true');
      expect(response.headers.vary).toMatch(/Origin/);
    }
    const refused = await request(app.getHttpServer())
      .get('/v1/events/track')
      .set('Origin', 'https://evil.com')
      .expect(405);
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    const read = await request(app.getHttpServer())
      .post('/v1/events/conversions')
      .set('Origin', 'https://shop.example.com')
      .expect(405);
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('never answers with a wildcard origin', async () => {
    const response = await preflight('https://shop.example.com').expect(200);
    expect(response.headers['access-control-allow-origin']).not.toBe('*');
  });

  it('sends no credentialed CORS headers on other endpoints', async () => {
    const response = await request(app.getHttpServer())
      .get('/health')
      .set('Origin', 'https://shop.example.com')
      .expect(200);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
  });
});
