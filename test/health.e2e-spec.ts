import { load } from 'js-yaml';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { useAppFixture } from './support/app-fixture';
import { createTestApp } from './support/test-app';
import { createTestDatabase } from './support/test-database';

describe('operations endpoints', () => {
  const fixture = useAppFixture();

  it('GET /health answers 200 with security headers', async () => {
    const response = await fixture.http().get('/health').expect(200);
    expect(response.body).toEqual({ status: 'ok' });
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-request-id']).toEqual(expect.any(String));
  });

  it('answers a served path asked with another method 405, with Allow, and an unknown path 404', async () => {
    const cases: [string, string, string][] = [
      ['get', '/v1/events/track', 'OPTIONS, POST'],
      ['delete', '/v1/funnels/default', 'GET, HEAD'],
      ['post', '/v1/events/conversions', 'GET, HEAD'],
      ['put', '/v1/reconciliation/runs/3f2b8a4e-8c1d-4a9e-9b7a-2d1c0e5f6a7b', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const response = await fixture.http()[method as 'get'](path).expect(405);
      expect(response.headers.allow).toBe(allow);
      expect(response.body).toMatchObject({
        success: false,
        error: { code: 'method_not_allowed' },
        request_id: response.headers['x-request-id'],
      });
      expect(response.headers['x-content-type-options']).toBe('nosniff');
    }
    const missing = await fixture.http().delete('/v1/no/such/path').expect(404);
    expect(missing.body.error.code).toBe('not_found');
  });

  it("sends helmet's security headers on every kind of answer", async () => {
    const answers = await Promise.all([
      fixture.http().get('/health'),
      fixture.http().post('/v1/events/track').send({}),
      fixture.http().get('/no/such/path'),
      fixture
        .http()
        .options('/v1/events/track')
        .set('Origin', 'https://evil.example.net')
        .set('Access-Control-Request-Method', 'POST'),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 400, 404, 403]);
    for (const { headers } of answers) {
      expect(headers).toMatchObject({
        'content-security-policy': expect.stringContaining("default-src 'self'"),
        'cross-origin-resource-policy': 'cross-origin',
        'strict-transport-security': 'max-age=31536000; includeSubDomains',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'referrer-policy': 'no-referrer',
      });
      expect(headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    }
  });

  it('GET /ready answers 200 when the database is reachable and migrations are applied', async () => {
    const response = await fixture.http().get('/ready').expect(200);
    expect(response.body).toEqual({
      status: 'ok',
      checks: { database: 'up', migrations: 'applied' },
    });
  });

  it('GET /ready answers 503 naming the pending migrations', async () => {
    const other = await createTestDatabase();
    await other.pool.query('DELETE FROM mikro_orm_migrations');
    const stale = await createTestApp(other.url);
    try {
      const response = await request(stale.getHttpServer()).get('/ready').expect(503);
      expect(response.body.error.code).toBe('not_ready');
      expect(response.body.error.details[0]).toMatchObject({ field: 'migrations' });
    } finally {
      await stale.close();
      await other.drop();
    }
  });

  it('GET /ready turns 503 when the database it was ready on loses applied migrations (restored from an older backup)', async () => {
    const other = await createTestDatabase();
    const app = await createTestApp(other.url);
    try {
      await request(app.getHttpServer()).get('/ready').expect(200);
      const { rows } = await other.pool.query(
        'DELETE FROM mikro_orm_migrations WHERE id = (SELECT max(id) FROM mikro_orm_migrations) RETURNING name',
      );
      const response = await request(app.getHttpServer()).get('/ready').expect(503);
      expect(response.body.error.details[0].message).toContain(rows[0].name);
    } finally {
      await app.close();
      await other.drop();
    }
  });

  it('GET /ready reads the migrations table without creating it: a lost table is a 503', async () => {
    const other = await createTestDatabase();
    const stale = await createTestApp(other.url);
    try {
      await other.pool.query('ALTER TABLE mikro_orm_migrations RENAME TO migrations_aside');
      const response = await request(stale.getHttpServer()).get('/ready').expect(503);
      expect(response.body.error.details[0]).toEqual({
        field: 'migrations',
        message: 'no migrations table',
      });
      const { rows } = await other.pool.query(
        "SELECT to_regclass('mikro_orm_migrations') IS NULL AS absent",
      );
      expect(rows).toEqual([{ absent: true }]);
    } finally {
      await stale.close();
      await other.drop();
    }
  });

  it('serves the OpenAPI document at /openapi.json and Swagger UI at /docs', async () => {
    const document = await fixture.http().get('/openapi.json').expect(200);
    expect(document.body.openapi).toMatch(/^3\./);
    expect(Object.keys(document.body.paths)).toEqual(
      expect.arrayContaining(['/v1/events/track', '/v1/events/track/batch', '/health', '/ready']),
    );
    expect(Object.keys(document.body.paths['/v1/events/track'])).toEqual(
      expect.arrayContaining(['post', 'options']),
    );
    expect(document.headers['content-type']).toMatch(/^application\/json/);
    // The same document as YAML (the committed openapi.json is checked against the compiled
    // code by CI's `node dist/src/bin/export-openapi.js --check`: here the Swagger plugin has not run).
    const yaml = await fixture.http().get('/openapi.yaml').expect(200);
    expect(yaml.headers['content-type']).toMatch(/^text\/yaml/);
    expect(load(yaml.text)).toEqual(document.body);
    const ui = await fixture.http().get('/docs').redirects(1).expect(200);
    expect(ui.text).toContain('swagger');
    // Every asset the page links loads from where the page is served.
    const assets = [...ui.text.matchAll(/(?:src|href)="(\.\/[^"]+)"/g)].map((match) => match[1]);
    expect(assets.length).toBeGreaterThan(3);
    for (const asset of assets)
      await fixture.http().get(new URL(asset, 'http://host/docs').pathname).expect(200);
    // With a trailing slash the same relative links would miss: sent to /docs.
    await fixture.http().get('/docs/').expect(301).expect('Location', '../docs');
    await fixture.http().get('/docs/?x=1').expect(301).expect('Location', '../docs?x=1');
  });

  it('GET /metrics serves Prometheus text with request latency by route and tracked events', async () => {
    await fixture
      .http()
      .post('/v1/events/track')
      .send({ event_type: 'page_view', visitor_id: 'v_metrics' })
      .expect(200);
    const response = await fixture.http().get('/metrics').expect(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.text).toMatch(
      /http_request_duration_seconds_count\{method="POST",route="\/v1\/events\/track",status_code="200"\} 1/,
    );
    expect(response.text).toMatch(/tracked_events_total\{outcome="stored"\} 1/);
    expect(response.text).toContain('process_resident_memory_bytes');
  });
});
