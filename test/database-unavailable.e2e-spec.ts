import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { TcpProxy } from './support/tcp-proxy';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

describe('when the database is unavailable', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    const target = new URL(db.url);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    // Statements time out after 1 s on the server, and the driver gives up 1 s later.
    app = await createTestApp(viaProxy.toString(), {
      DB_CONNECT_TIMEOUT_MS: '1000',
      DB_STATEMENT_TIMEOUT_MS: '1000',
    });
  });
  afterAll(async () => {
    await app?.close();
    await proxy?.cut();
    await db?.drop();
  });

  const track = (body = anEvent()) =>
    request(app.getHttpServer())
      .post('/v1/events/track')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(body));
  const countEvents = async () =>
    Number((await db.pool.query('SELECT count(*) FROM events')).rows[0].count);

  it('answers 503 with Retry-After within a bounded time, stores nothing, and recovers by itself', async () => {
    await track().expect(200);
    await request(app.getHttpServer()).get('/ready').expect(200);

    await proxy.cut();
    const event = anEvent();
    const started = Date.now();
    const refused = await track(event);
    expect(refused.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.body).toMatchObject({
      success: false,
      error: { code: 'database_unavailable' },
      request_id: expect.any(String),
    });

    const batch = await request(app.getHttpServer())
      .post('/v1/events/track/batch')
      .send({ events: [anEvent()] });
    expect(batch.status).toBe(503);

    const notReady = await request(app.getHttpServer()).get('/ready').expect(503);
    expect(notReady.headers['retry-after']).toBeDefined();
    await request(app.getHttpServer()).get('/health').expect(200);

    await proxy.restore();
    await track(event).expect(200);
    await request(app.getHttpServer()).get('/ready').expect(200);
    expect(await countEvents()).toBe(2);
  });

  it('answers 503 within a bounded time when the database stops answering, then drops the connections left waiting', async () => {
    await track().expect(200);
    // Connections warm in the pool, so that the move below finds one and begins on it.
    await Promise.all(
      ['warm-1', 'warm-2', 'warm-3'].map((visitor) =>
        request(app.getHttpServer())
          .post('/v1/events/funnel')
          .send({ visitor_id: visitor, stage: 'lead' })
          .expect(200),
      ),
    );
    proxy.freeze();
    // An explicit funnel move runs in a transaction: a failed rollback must not hide why.
    const moved = await request(app.getHttpServer())
      .post('/v1/events/funnel')
      .send({ visitor_id: 'frozen-visitor', stage: 'lead' });
    expect(moved.body.error?.code).toBe('database_unavailable');
    expect(moved.status).toBe(503);
    expect(moved.headers['retry-after']).toBeDefined();
    const event = anEvent();
    const started = Date.now();
    const refused = await track(event);
    expect(refused.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.body.error.code).toBe('database_unavailable');
    await request(app.getHttpServer()).get('/ready').expect(503);

    // Those connections never answer again; reused, each would time out in turn.
    proxy.abandonOpenConnections();
    const retried = await track(event).expect(200);
    await request(app.getHttpServer()).get('/ready').expect(200);
    // The first attempt never reached the server: stored once, by the retry.
    const { rows } = await db.pool.query(
      'SELECT count(*)::int AS n FROM events WHERE event_id = $1',
      [event.event_id],
    );
    expect(rows[0].n).toBe(1);
    expect(retried.body.event_id).toBe(event.event_id);
  });

  it('answers 503 too when PostgreSQL is reached over a Unix socket that is gone (ENOENT), and recovers', async () => {
    const socketDir = mkdtempSync(join(tmpdir(), 'ct-pg-socket-'));
    const target = new URL(db.url);
    const socketProxy = new TcpProxy(
      target.hostname,
      Number(target.port || 5432),
      join(socketDir, '.s.PGSQL.5432'),
    );
    await socketProxy.start();
    const viaSocket = `postgresql://postgres@${encodeURIComponent(socketDir)}:5432${target.pathname}`;
    const socketApp = await createTestApp(viaSocket, { DB_CONNECT_TIMEOUT_MS: '1000' });
    const trackViaSocket = (body = anEvent()) =>
      request(socketApp.getHttpServer())
        .post('/v1/events/track')
        .set('Content-Type', 'application/json')
        .send(JSON.stringify(body));
    try {
      await trackViaSocket().expect(200);
      await socketProxy.cut(); // closing the server removes its socket file
      const event = anEvent();
      const refused = await trackViaSocket(event);
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('database_unavailable');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      await socketProxy.restore();
      await trackViaSocket(event).expect(200);
    } finally {
      await socketApp.close();
      await socketProxy.cut();
      rmSync(socketDir, { recursive: true, force: true });
    }
  });
});

describe('when the database takes no writes (a standby, or a primary set read-only while it fails over)', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await createTestApp(db.url);
    await request(app.getHttpServer()).get('/ready').expect(200);
    // Every session from here on is read-only; the app's pooled ones are ended, so it
    // reconnects into read-only sessions.
    await db.pool.query(
      `ALTER DATABASE ${new URL(db.url).pathname.slice(1)} SET default_transaction_read_only = on`,
    );
    await db.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('answers 503 with Retry-After on every write, stores nothing, and is not ready', async () => {
    const post = (path: string, body: object) =>
      request(app.getHttpServer()).post(path).set('Content-Type', 'application/json').send(body);
    // The first may meet a pooled connection that was ended: unavailable too.
    for (const [path, body] of [
      ['/v1/events/track', anEvent()],
      ['/v1/events/track', anEvent({ visitor_id: 'v-ro', user_id: 'u-ro' })],
      ['/v1/events/track/batch', { events: [anEvent(), anEvent()] }],
      ['/v1/events/funnel', { user_id: 'u-ro', stage: 'lead' }],
    ] as const) {
      const refused = await post(path, body);
      expect(refused.status, path).toBe(503);
      expect(refused.body.error.code).toBe('database_unavailable');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    }
    const notReady = await request(app.getHttpServer()).get('/ready').expect(503);
    expect(notReady.body.error.details).toEqual([
      { field: 'database', message: 'read-only: it takes no writes' },
    ]);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM events');
    expect(rows[0].n).toBe(0);
  });
});
