import { connect } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

const KEY = 'hostile-key-0123456789abcdef';

/** Writes `chunks` to a raw socket `gapMs` apart; resolves with what came back and when the server closed. */
function rawExchange(port: number, chunks: string[], gapMs = 0, maxMs = 10_000) {
  return new Promise<{ response: string; closedAfterMs: number }>((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let response = '';
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (data) => (response += data.toString()));
    const finish = () => {
      clearTimeout(timer);
      resolve({ response, closedAfterMs: Date.now() - started });
    };
    socket.on('close', finish);
    socket.on('error', () => undefined);
    const deadline = setTimeout(() => socket.destroy(), maxMs);
    deadline.unref();
    let i = 0;
    const next = () => {
      if (i >= chunks.length || socket.destroyed) return;
      socket.write(chunks[i++]);
      timer = setTimeout(next, gapMs);
    };
    socket.on('connect', next);
  });
}

/** The raw answer's body is the error envelope with `code`, its request id the one in the header. */
function expectEnvelope(response: string, code: string) {
  const [head, body] = response.split('\r\n\r\n');
  expect(head).toMatch(/\r\nContent-Type: application\/json/i);
  const parsed = JSON.parse(body) as {
    success: boolean;
    error: { code: string };
    request_id: string;
  };
  expect(parsed.success).toBe(false);
  expect(parsed.error.code).toBe(code);
  expect(head.toLowerCase()).toContain(`\r\nx-request-id: ${parsed.request_id}\r\n`);
}

describe('hostile HTTP: headers, slow clients, what logs and answers reveal', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication;
  let port: number;
  const logged: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await createTestApp(db.url, {
      HTTP_REQUEST_TIMEOUT_MS: '1000',
      RATE_LIMIT_PER_MINUTE: '0',
      API_KEYS: KEY,
      LOG_LEVEL: 'verbose',
    });
    // Everything the app logs, at every level, to check what it never contains.
    app.useLogger({
      log: (m: unknown) => logged.push(String(m)),
      error: (m: unknown, ...rest: unknown[]) => logged.push([m, ...rest].map(String).join(' ')),
      warn: (m: unknown) => logged.push(String(m)),
      debug: (m: unknown) => logged.push(String(m)),
      verbose: (m: unknown) => logged.push(String(m)),
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = Number(new URL(await app.getUrl()).port);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
    Logger.overrideLogger(['error']);
  });

  it('refuses enormous headers with 431 and keeps serving', async () => {
    const { response } = await rawExchange(port, [
      `GET /health HTTP/1.1\r\nHost: x\r\nCookie: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
    ]);
    expect(response).toMatch(/^HTTP\/1\.1 431/);
    expectEnvelope(response, 'headers_too_large');
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  });

  it('answers a request HTTP cannot parse with 400 in the envelope, and closes the connection', async () => {
    for (const request of [
      'GARBAGE\r\n\r\n',
      'POST /v1/events/track HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345',
      'POST /v1/events/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'GET /health HTTP/1.1\r\n\r\n', // HTTP/1.1 without Host
    ]) {
      const { response } = await rawExchange(port, [request]);
      expect(response).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(response).toMatch(/\r\nConnection: close\r\n/i);
      expectEnvelope(response, 'malformed_request');
    }
  });

  it('closes a slow-loris connection within the request timeout', async () => {
    // One header byte every 200 ms: never idle, never complete.
    const dribble =
      'POST /v1/events/track HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'.split(
        '',
      );
    const { closedAfterMs, response } = await rawExchange(port, dribble, 200, 15_000);
    expect(closedAfterMs).toBeLessThan(4_000);
    if (response !== '') {
      expect(response).toMatch(/^HTTP\/1\.1 408/);
      expectEnvelope(response, 'request_timeout');
    }
  });

  it('keeps an idle connection open longer than load balancers do (72 s)', async () => {
    const { response } = await rawExchange(
      port,
      ['GET /health HTTP/1.1\r\nHost: x\r\n\r\n'],
      0,
      1_500,
    );
    expect(response).toMatch(/^HTTP\/1\.1 200/);
    expect(response).toMatch(/\r\nKeep-Alive: timeout=72\r\n/);
  });

  it('answers a path climbing out of the docs with 404 in the envelope, not a logged 500', async () => {
    const errorsBefore = logged.filter((line) => line.includes('failed [request')).length;
    for (const path of ['/docs/../openapi.json', '/docs/%2e%2e/%2e%2e/package.json']) {
      const { response } = await rawExchange(
        port,
        [`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`],
        0,
        1_000,
      );
      expect(response).toMatch(/^HTTP\/1\.1 404/);
      expect(response).toContain('"code":"not_found"');
    }
    expect(logged.filter((line) => line.includes('failed [request')).length).toBe(errorsBefore);
  });

  it('answers URLs the router cannot read with 404 in the envelope', async () => {
    for (const path of ['/v1/funnels/%E0%A4%A', `/v1/reconciliation/runs/${'a'.repeat(5_000)}`]) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        headers: { 'X-API-Key': KEY },
      });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({
        success: false,
        error: { code: 'not_found' },
        request_id: expect.any(String),
      });
    }
  });

  it('answers routing 404s with the request id and security headers every answer carries', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/funnels/%ff`, {
      headers: { 'X-API-Key': KEY, 'X-Request-Id': 'routing-404-id' },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('x-request-id')).toBe('routing-404-id');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await response.json()).toMatchObject({ request_id: 'routing-404-id' });
  });

  it('serves a request whose Expect it cannot meet as if the header were absent', async () => {
    const { response } = await rawExchange(port, [
      'GET /health HTTP/1.1\r\nHost: localhost\r\nExpect: something-else\r\nConnection: close\r\n\r\n',
    ]);
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(response.toLowerCase()).toContain('\r\nx-request-id: ');
    expect(response).toContain('"status":"ok"');
  });

  it('ignores a forged X-Forwarded-For without TRUST_PROXY', async () => {
    const event = anEvent();
    const response = await fetch(`http://127.0.0.1:${port}/v1/events/track`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': '203.0.113.7' },
      body: JSON.stringify(event),
    });
    expect(response.status).toBe(200);
    const { rows } = await db.pool.query<{ ip_prefix: string }>(
      'SELECT ip_prefix FROM events WHERE event_id = $1',
      [event.event_id],
    );
    expect(rows[0].ip_prefix).toBe('127.0.0.0/24');
  });

  it('logs request ids, never API keys, client addresses or bodies; answers carry no stack', async () => {
    const secret = 'do-not-log-this-value-8f3a';
    await fetch(`http://127.0.0.1:${port}/v1/events/conversions`, {
      headers: { 'X-API-Key': 'wrong-key-0123456789abcdef' },
    });
    await fetch(`http://127.0.0.1:${port}/v1/events/conversions`, {
      headers: { 'X-API-Key': KEY },
    });
    // A request that fails inside: the unexpected error is logged, the client sees only an id.
    await db.pool.query('ALTER TABLE events RENAME TO events_away');
    const failed = await fetch(`http://127.0.0.1:${port}/v1/events/track`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': '198.51.100.23' },
      body: JSON.stringify(anEvent({ properties: { note: secret } })),
    });
    await db.pool.query('ALTER TABLE events_away RENAME TO events');
    const body = await failed.text();
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(body).not.toMatch(/\n\s+at |node_modules|events_away|relation/);
    expect(JSON.parse(body)).toMatchObject({ success: false, request_id: expect.any(String) });
    const logs = logged.join('\n');
    expect(logs).toContain(JSON.parse(body).request_id);
    for (const leaked of [
      KEY,
      'wrong-key-0123456789abcdef',
      secret,
      '198.51.100.23',
      '127.0.0.1:',
    ]) {
      expect(logs).not.toContain(leaked);
    }
  });
});
