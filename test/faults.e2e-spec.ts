import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { Socket, connect, createServer } from 'node:net';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/app-config';
import { EmbeddedPostgres, startEmbeddedPostgres } from '../src/persistence/embedded-postgres';
import { migrateDatabase } from '../src/persistence/migrate';
import { anEvent } from './support/event-factory';
import { freePort } from './support/free-port';
import { ServiceProcess, buildService } from './support/service-process';
import { TcpProxy } from './support/tcp-proxy';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

/** The primary's cluster workers, read from /proc; throws unless there are `expected`. */
function workerPids(primaryPid: number, expected = 2): number[] {
  const pids = childPids(primaryPid);
  if (pids.length !== expected)
    throw new Error(`expected ${expected} workers, found ${pids.join(' ')}`);
  return pids;
}

function childPids(pid: number): number[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return children.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The slot the primary gave a worker (its metrics' `worker` label). */
function workerSlot(pid: number): string | undefined {
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  return environ.find((entry) => entry.startsWith('CLUSTER_WORKER_SLOT='))?.split('=')[1];
}

/**
 * How many workers have answered a request of their own (and so finished starting), from
 * one scrape of /metrics (0 when it fails). A worker joins scrapes earlier, while it starts.
 */
async function servingWorkers(baseUrl: string): Promise<number> {
  const response = await fetch(`${baseUrl}/metrics`, {
    headers: { Connection: 'close' },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200) return 0;
  const series = text.matchAll(/^http_request_duration_seconds_count\{[^}]*worker="(\d+)"/gm);
  return new Set([...series].map(([, worker]) => worker)).size;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// The throwaway cluster's own log lines are not what these tests are about.
Logger.overrideLogger(['error']);

interface Outcome {
  eventId: string;
  status: number | 'connection_error';
  retryAfter: string | null;
  ms: number;
}

/** One POST /v1/events/track over a real socket, never throwing: a refused connection is an outcome. */
async function post(baseUrl: string, timeoutMs = 15_000): Promise<Outcome> {
  const eventId = randomUUID();
  const started = Date.now();
  try {
    const response = await fetch(`${baseUrl}/v1/events/track`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'faults-test' },
      body: JSON.stringify(anEvent({ event_id: eventId })),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer();
    return {
      eventId,
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      ms: Date.now() - started,
    };
  } catch (error) {
    if ((error as Error).name === 'TimeoutError')
      throw new Error(`a request hung for ${timeoutMs} ms`);
    return { eventId, status: 'connection_error', retryAfter: null, ms: Date.now() - started };
  }
}

/**
 * While the database is away, a page on an allowed origin passes its preflight and can
 * read the 503 and its Retry-After; another origin is refused as the service refuses it.
 */
async function expectPlaceholderCors(baseUrl: string) {
  const url = `${baseUrl}/v1/events/track`;
  const allowed = 'https://shop.example';
  const preflight = await fetch(url, {
    method: 'OPTIONS',
    headers: { Origin: allowed, 'Access-Control-Request-Method': 'POST' },
  });
  expect(preflight.status).toBe(200);
  expect(preflight.headers.get('access-control-allow-origin')).toBe(allowed);
  expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
  const unavailable = await fetch(url, {
    method: 'POST',
    headers: { Origin: allowed, 'Content-Type': 'text/plain' },
    body: JSON.stringify(anEvent()),
  });
  expect(unavailable.status).toBe(503);
  expect(unavailable.headers.get('access-control-allow-origin')).toBe(allowed);
  expect(unavailable.headers.get('access-control-allow-credentials')).toBe('true');
  expect(unavailable.headers.get('access-control-expose-headers')).toContain('Retry-After');
  for (const method of ['OPTIONS', 'POST']) {
    const refused = await fetch(url, { method, headers: { Origin: 'https://elsewhere.example' } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  }
  // An Expect it cannot meet is ignored, as the service ignores it (Node would answer 417).
  const status = await new Promise<number | undefined>((resolve, reject) =>
    http
      .get(`${baseUrl}/health`, { headers: { Expect: 'something-else' } }, (response) => {
        response.resume();
        resolve(response.statusCode);
      })
      .on('error', reject),
  );
  expect(status).toBe(200);
}

/** `concurrency` clients posting back to back until `stop()` says so. */
function load(baseUrl: string, concurrency: number) {
  const outcomes: Outcome[] = [];
  let running = true;
  const clients = Array.from({ length: concurrency }, async () => {
    while (running) {
      const outcome = await post(baseUrl);
      outcomes.push(outcome);
      if (outcome.status === 'connection_error') await sleep(20);
    }
  });
  return {
    outcomes,
    stop: async () => {
      running = false;
      await Promise.all(clients);
      return outcomes;
    },
  };
}

/** The compiled service on `db`, on a free port, without rate limit and quiet, `env` on top. */
async function serviceOn(
  db: TestDatabase,
  env: Record<string, string> = {},
  options: { ownProcessGroup?: boolean } = {},
): Promise<ServiceProcess> {
  return new ServiceProcess(
    {
      PORT: String(await freePort()),
      DATABASE_URL: db.url,
      RATE_LIMIT_PER_MINUTE: '0',
      LOG_LEVEL: 'warn',
      ...env,
    },
    options,
  );
}

/** A raw connection to the service, once open, with `bytes` written (the start of a request, or nothing). */
function rawConnection(service: ServiceProcess, bytes = ''): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(service.baseUrl).port), '127.0.0.1', () => {
      socket.off('error', reject).on('error', () => undefined);
      socket.write(bytes);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * 20 clients, each on one kept-alive connection, asking /health back to back (fast
 * answers: a busy connection is idle, to the server, for a good share of the time between
 * an answer and the next request, which is when closing it cuts that request) while
 * `stop` stops the service. Their outcomes by status or error code.
 */
async function keptAliveLoadAcrossStop(
  service: ServiceProcess,
  stop: () => void,
): Promise<Record<string, number>> {
  const outcomes: string[] = [];
  let running = true;
  const client = async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    while (running) {
      outcomes.push(
        await new Promise<string>((resolve) => {
          const request = http.get(`${service.baseUrl}/health`, { agent }, (response) => {
            response.resume();
            response.on('end', () => resolve(String(response.statusCode)));
          });
          request.on('error', (error: NodeJS.ErrnoException) =>
            resolve(error.code ?? error.message),
          );
        }),
      );
      if (outcomes.at(-1) === 'ECONNREFUSED') await sleep(10);
    }
    agent.destroy();
  };
  const clients = Array.from({ length: 20 }, client);
  try {
    await sleep(1_000);
    stop();
    expect(await service.waitForExit(20_000)).toBe(0);
  } finally {
    running = false;
    await Promise.all(clients);
  }
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  console.log(`SIGTERM under kept-alive load: ${JSON.stringify(counts)}`);
  return counts;
}

async function storedIds(
  db: {
    query(sql: string, params: unknown[]): Promise<{ rows: { event_id: string; n: number }[] }>;
  },
  ids: string[],
) {
  const { rows } = await db.query(
    'SELECT event_id, count(*)::int AS n FROM events WHERE event_id = ANY($1) GROUP BY event_id',
    [ids],
  );
  return rows;
}

describe('faults against the compiled service on a real PostgreSQL', () => {
  let db: TestDatabase;
  let port: number;
  let service: ServiceProcess;

  beforeAll(async () => {
    buildService();
    db = await createTestDatabase();
    port = await freePort();
    service = new ServiceProcess({
      PORT: String(port),
      DATABASE_URL: db.url,
      RATE_LIMIT_PER_MINUTE: '0',
      LOG_LEVEL: 'warn',
    });
  }, 120_000);
  afterAll(async () => {
    service?.kill('SIGKILL');
    await db?.drop();
  });

  it('kill -9 right after a burst: every acknowledged event is there, exactly once', async () => {
    await service.start();
    const outcomes = await Promise.all(Array.from({ length: 400 }, () => post(service.baseUrl)));
    service.kill('SIGKILL');
    await service.waitForExit();
    const acknowledged = outcomes.filter((o) => o.status === 200).map((o) => o.eventId);
    expect(acknowledged).toHaveLength(400);
    await service.start();
    const rows = await storedIds(db.pool, acknowledged);
    console.log(
      `kill -9: 400 sent, ${acknowledged.length} acknowledged, ${rows.length} stored after restart`,
    );
    expect(rows).toHaveLength(400);
    expect(rows.every((row) => row.n === 1)).toBe(true);
  }, 120_000);

  it('SIGTERM under steady load: every request answered, pending batches committed, exit 0', async () => {
    if (
      service.exitCode !== null ||
      !(await fetch(`${service.baseUrl}/health`).catch(() => null))
    ) {
      await service.start();
    }
    const traffic = load(service.baseUrl, 20);
    await sleep(1_500);
    service.kill('SIGTERM');
    const exitCode = await service.waitForExit(20_000);
    const outcomes = await traffic.stop();
    expect(exitCode).toBe(0);
    const acknowledged = outcomes.filter((o) => o.status === 200).map((o) => o.eventId);
    expect(acknowledged.length).toBeGreaterThan(100);
    // Answered or refused: 200, 503 while closing, or a connection the closed server refused.
    expect(
      outcomes.every(
        (o) => o.status === 200 || o.status === 503 || o.status === 'connection_error',
      ),
    ).toBe(true);
    const rows = await storedIds(db.pool, acknowledged);
    console.log(
      `SIGTERM under load: ${outcomes.length} sent, ${acknowledged.length} acknowledged, ` +
        `${outcomes.filter((o) => o.status === 503).length} answered 503, ` +
        `${outcomes.filter((o) => o.status === 'connection_error').length} refused after close, ` +
        `${acknowledged.length - rows.length} acknowledged but lost, exit ${exitCode}`,
    );
    expect(rows).toHaveLength(acknowledged.length);
  }, 60_000);

  it('SIGTERM stops accepting at once, though a background pass holds the rest of shutdown up', async () => {
    if (service.exitCode === null) {
      service.kill('SIGKILL');
      await service.waitForExit();
    }
    // Another replica at partition maintenance: this one's start-up pass waits for it.
    const otherReplica = new Client({ connectionString: db.url });
    await otherReplica.connect();
    await otherReplica.query('BEGIN');
    await otherReplica.query(
      "SELECT pg_advisory_xact_lock(hashtext('conversion-tracking:event-partitions'))",
    );
    await service.start();
    service.kill('SIGTERM');
    await sleep(1_000);
    // A new connection: one kept alive from the start's polling may still be answered
    // (Connection: close) while the server drains it.
    const during = await new Promise<string>((resolve) => {
      const request = http.get(`${service.baseUrl}/health`, { agent: false }, (response) => {
        response.resume();
        resolve(String(response.statusCode));
      });
      request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    await otherReplica.query('ROLLBACK');
    await otherReplica.end();
    expect(during).toBe('ECONNREFUSED');
    expect(await service.waitForExit(20_000)).toBe(0);
  }, 120_000);
});

describe('the compiled service started on its own for one case', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    buildService();
    db = await createTestDatabase();
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('answers a keep-alive client waiting across SIGTERM with its connection closed, refuses what comes after, and exits 0 promptly', async () => {
    // Each event waits a second for its group: the request is in flight when SIGTERM comes.
    const service = await serviceOn(db, { TRACK_BATCH_MAX_WAIT_MS: '1000' });
    await service.start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = () =>
      new Promise<{ status: number; connection: string | undefined; body: string }>(
        (resolve, reject) => {
          const request = http.request(
            `${service.baseUrl}/v1/events/track`,
            { method: 'POST', agent, headers: { 'Content-Type': 'application/json' } },
            (response) => {
              let body = '';
              response.on('data', (chunk: Buffer) => (body += chunk.toString()));
              response.on('end', () =>
                resolve({
                  status: response.statusCode!,
                  connection: response.headers.connection,
                  body,
                }),
              );
            },
          );
          request.on('error', reject);
          request.end(JSON.stringify(anEvent()));
        },
      );
    try {
      await send(); // opens the kept-alive connection
      const inFlight = send();
      // Queued for the same connection, sent once the first is answered, while closing.
      const next = send();
      await sleep(300);
      const stopped = Date.now();
      service.kill('SIGTERM');
      const first = await inFlight;
      expect(first).toMatchObject({ status: 200, connection: 'close' });
      const second = await next.catch((error: Error) => ({ status: 0, body: error.message }));
      // On a new connection, the first having closed: refused, the server no longer listens.
      expect(second.status).toBe(0);
      expect(await service.waitForExit(20_000)).toBe(0);
      expect(Date.now() - stopped).toBeLessThan(5_000);
    } finally {
      agent.destroy();
      if (service.exitCode === null) service.kill('SIGKILL');
    }
  }, 120_000);

  it('stores at SIGTERM the events accepted from clients that went away before their answers', async () => {
    const service = await serviceOn(db);
    await service.start();
    const userId = `gone-${randomUUID()}`;
    const holder = new Client({ connectionString: db.url });
    try {
      const seed = await fetch(`${service.baseUrl}/v1/events/track`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(
          anEvent({ event_type: 'page_view', visitor_id: undefined, user_id: userId }),
        ),
      });
      expect(seed.status).toBe(200);
      // The first event's group waits on this lock; the second, of the same user, waits
      // in the queue behind it, and so does the batch (its link made on the way, its
      // events after the first stored one by one). Every client is gone long before
      // anything is stored, and with them the only connections the server's close waits for.
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM funnel_progress WHERE subject_id = $1 FOR UPDATE', [
        userId,
      ]);
      const ofUser = (type: string, visitorId?: string) =>
        anEvent({ event_type: type, visitor_id: visitorId, user_id: userId });
      const events = [ofUser('sign_up'), ofUser('purchase')];
      const batch = [ofUser('generate_lead'), ofUser('login', `v-${userId}`), ofUser('purchase')];
      const requests: [string, unknown][] = [
        ...events.map((event): [string, unknown] => ['/v1/events/track', event]),
        ['/v1/events/track/batch', { events: batch }],
      ];
      for (const [path, body] of requests) {
        const request = http.request(`${service.baseUrl}${path}`, {
          method: 'POST',
          agent: false,
          headers: { 'Content-Type': 'application/json' },
        });
        request.on('error', () => undefined);
        request.end(JSON.stringify(body));
        setTimeout(() => request.destroy(), 150);
        await sleep(20);
      }
      await sleep(300);
      service.kill('SIGTERM');
      await sleep(1_500);
      await holder.query('COMMIT');
      expect(await service.waitForExit(20_000), service.output).toBe(0);
      const { rows } = await db.pool.query<{ event_id: string }>(
        'SELECT event_id FROM events WHERE user_id = $1 AND event_type <> $2',
        [userId, 'page_view'],
      );
      expect(rows.map(({ event_id }) => event_id).sort()).toEqual(
        [...events, ...batch].map(({ event_id }) => event_id).sort(),
      );
    } finally {
      await holder.end().catch(() => undefined);
      if (service.exitCode === null) service.kill('SIGKILL');
    }
  }, 120_000);

  it('exits 0 at SIGTERM past a connection that never sent a whole request', async () => {
    const service = await serviceOn(db);
    await service.start();
    // One opened and never used; one whose headers stop halfway; one whose body does.
    const sockets = [
      await rawConnection(service),
      await rawConnection(service, 'POST /v1/events/track HTTP/1.1\r\nHost: x\r\n'),
      await rawConnection(
        service,
        'POST /v1/events/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n{"event_ty',
      ),
    ];
    try {
      await sleep(100);
      const stopped = Date.now();
      service.kill('SIGTERM');
      expect(await service.waitForExit(20_000), service.output).toBe(0);
      expect(Date.now() - stopped).toBeLessThan(5_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      if (service.exitCode === null) service.kill('SIGKILL');
    }
  }, 120_000);

  it('answers at SIGTERM a request whose headers were still arriving past the drain', async () => {
    const service = await serviceOn(db);
    await service.start();
    const event = anEvent();
    const body = JSON.stringify(event);
    const socket = await rawConnection(
      service,
      'POST /v1/events/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n',
    );
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    try {
      await sleep(100);
      service.kill('SIGTERM');
      // Past the drain's second: the rest of the headers, and the body, come slowly.
      await sleep(1_400);
      socket.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      expect(await service.waitForExit(20_000), service.output).toBe(0);
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      const { rows } = await db.pool.query('SELECT 1 FROM events WHERE event_id = $1', [
        event.event_id,
      ]);
      expect(rows).toHaveLength(1);
    } finally {
      socket.destroy();
      if (service.exitCode === null) service.kill('SIGKILL');
    }
  }, 120_000);

  it('stops waiting for a request trickling in at half of SHUTDOWN_TIMEOUT_MS, and exits 0', async () => {
    const service = await serviceOn(db, { SHUTDOWN_TIMEOUT_MS: '4000' });
    await service.start();
    const socket = await rawConnection(service, 'POST /v1/events/track HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 300);
    try {
      await sleep(100);
      service.kill('SIGTERM');
      expect(await service.waitForExit(20_000), service.output).toBe(0);
    } finally {
      clearInterval(trickle);
      socket.destroy();
      if (service.exitCode === null) service.kill('SIGKILL');
    }
  }, 120_000);

  it('with SHUTDOWN_DELAY_MS, serves on after SIGTERM, /ready answering 503, then stops with exit 0', async () => {
    const service = await serviceOn(db, { SHUTDOWN_DELAY_MS: '3000' });
    await service.start();
    try {
      const stopped = Date.now();
      service.kill('SIGTERM');
      await sleep(300);
      // New connections each: the listener is still open.
      const fresh = () => ({
        headers: { Connection: 'close' },
        signal: AbortSignal.timeout(10_000),
      });
      const ready = await fetch(`${service.baseUrl}/ready`, fresh());
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        error: { code: 'not_ready', details: [{ field: 'service', message: 'shutting down' }] },
      });
      expect((await fetch(`${service.baseUrl}/health`, fresh())).status).toBe(200);
      const tracked = await post(service.baseUrl);
      expect(tracked.status).toBe(200);
      expect(await service.waitForExit(20_000)).toBe(0);
      expect(Date.now() - stopped).toBeGreaterThanOrEqual(3_000);
      expect(await storedIds(db.pool, [tracked.eventId])).toEqual([
        { event_id: tracked.eventId, n: 1 },
      ]);
    } finally {
      if (service.exitCode === null) service.kill('SIGKILL');
    }
  }, 120_000);

  it('with SHUTDOWN_DELAY_MS, a SIGTERM while starting does not wait it out: nothing served, no load balancer to wait for', async () => {
    const service = await serviceOn(db, { SHUTDOWN_DELAY_MS: '4000', LOG_LEVEL: 'info' });
    service.launch();
    try {
      await service.waitForOutput(/InstanceLoader/);
      const stopped = Date.now();
      service.kill('SIGTERM');
      expect(await service.waitForExit(20_000)).toBe(0);
      expect(Date.now() - stopped).toBeLessThan(3_000);
      expect(service.output).not.toMatch(/SHUTDOWN_DELAY_MS/);
    } finally {
      if (service.exitCode === null) service.kill('SIGKILL');
    }
  }, 120_000);

  it('cuts no request on a busy kept-alive connection at SIGTERM: each is answered, or its connection refused before it was sent', async () => {
    const service = await serviceOn(db);
    await service.start();
    try {
      const counts = await keptAliveLoadAcrossStop(service, () => service.kill('SIGTERM'));
      expect(counts['200']).toBeGreaterThan(100); // load was real: ~2,000 on a quiet machine
      // Refused (nothing sent) is for the client to retry elsewhere; a reset is a lost request.
      expect(Object.keys(counts).sort()).toEqual(['200', 'ECONNREFUSED']);
    } finally {
      if (service.exitCode === null) service.kill('SIGKILL');
    }
  }, 120_000);

  it('with WORKERS=2, cuts no request on a busy kept-alive connection when SIGTERM reaches the whole process group', async () => {
    // The primary accepts for the workers: clients reconnecting while it still does would
    // have their new connections reset once every worker has gone. Three stops, as it was
    // one stop in two.
    for (let round = 0; round < 3; round++) {
      const service = await serviceOn(db, { WORKERS: '2' }, { ownProcessGroup: true });
      await service.start();
      try {
        const counts = await keptAliveLoadAcrossStop(service, () => service.signalGroup('SIGTERM'));
        expect(counts['200']).toBeGreaterThan(100);
        expect(Object.keys(counts).sort()).toEqual(['200', 'ECONNREFUSED']);
      } finally {
        if (service.running) service.signalGroup('SIGKILL');
      }
    }
  }, 120_000);

  it('with WORKERS=2, answers every request in flight and exits 0 when SIGTERM reaches the whole process group', async () => {
    // Each event waits a second for its group: the requests are in flight when SIGTERM
    // comes, to the primary and to each worker at once (systemd's stop, kill -TERM -pgid);
    // the primary passes it on, so each worker gets it twice.
    const service = await serviceOn(
      db,
      { WORKERS: '2', TRACK_BATCH_MAX_WAIT_MS: '1000' },
      { ownProcessGroup: true },
    );
    await service.start();
    try {
      const outcomes = Array.from({ length: 20 }, () => post(service.baseUrl));
      await sleep(300);
      service.signalGroup('SIGTERM');
      const answered = await Promise.all(outcomes);
      expect(answered.map((outcome) => outcome.status)).toEqual(Array(20).fill(200));
      expect(await service.waitForExit(20_000), service.output).toBe(0);
      const stored = await storedIds(
        db.pool,
        answered.map((outcome) => outcome.eventId),
      );
      expect(stored).toHaveLength(20);
    } finally {
      if (service.running) service.signalGroup('SIGKILL');
    }
  }, 120_000);

  it('with WORKERS=2, counts every worker in each scrape of /metrics, whichever worker answers it, each in its own series', async () => {
    const service = await serviceOn(db, { WORKERS: '2' });
    await service.start();
    try {
      // A new connection each time: the primary hands connections to the workers in turn.
      const fresh = () => ({
        headers: { Connection: 'close' },
        signal: AbortSignal.timeout(10_000),
      });
      // start() returns once one worker serves; the other may still be loading.
      await expect.poll(() => servingWorkers(service.baseUrl), { timeout: 30_000 }).toBe(2);
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => post(service.baseUrl)));
      expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(10).fill(200));
      /** tracked_events_total{outcome="stored"} by worker label, from one scrape. */
      const storedByWorker = async () => {
        const text = await (await fetch(`${service.baseUrl}/metrics`, fresh())).text();
        const lines = text.matchAll(
          /^tracked_events_total\{outcome="stored",worker="(\d+)"\} (\d+)$/gm,
        );
        return Object.fromEntries([...lines].map(([, worker, count]) => [worker, Number(count)]));
      };
      const scrapes = [];
      for (let i = 0; i < 6; i++) scrapes.push(await storedByWorker());
      const [first] = scrapes;
      expect(scrapes).toEqual(Array(6).fill(first));
      // Each worker's start time too: how Prometheus tells that one was replaced.
      const text = await (await fetch(`${service.baseUrl}/metrics`, fresh())).text();
      expect(text.match(/^process_start_time_seconds\{worker="\d+"\} \d+$/gm)).toHaveLength(2);
      expect(Object.values(first).reduce((sum, count) => sum + count, 0)).toBe(10);

      // A replaced worker's series starts again from zero alone; the other's goes on.
      const [busiest] = Object.entries(first).sort(([, a], [, b]) => b - a)[0];
      const pid = workerPids(service.pid!).find((candidate) => workerSlot(candidate) === busiest)!;
      process.kill(pid, 'SIGKILL');
      await expect
        .poll(() => workerPids(service.pid!, 2).map(workerSlot).sort(), { timeout: 15_000 })
        .toEqual(['1', '2']);
      await expect
        .poll(storedByWorker, { timeout: 10_000 })
        .toEqual(
          Object.fromEntries(Object.entries(first).filter(([worker]) => worker !== busiest)),
        );
    } finally {
      service.kill('SIGTERM');
      await service.waitForExit();
    }
  }, 120_000);

  it('with WORKERS=2, scrapes /metrics at once while a replaced worker still waits for its database', async () => {
    const target = new URL(db.url);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const service = await serviceOn(db, { WORKERS: '2', DATABASE_URL: viaProxy.toString() });
    await service.start();
    try {
      await expect.poll(() => servingWorkers(service.baseUrl), { timeout: 30_000 }).toBe(2);
      await proxy.cut();
      const [replaced] = workerPids(service.pid!);
      process.kill(replaced, 'SIGKILL');
      // The replacement starts, then waits for the database without ever loading the app.
      await expect
        .poll(() => workerPids(service.pid!, 2).includes(replaced), { timeout: 15_000 })
        .toBe(false);
      await sleep(1_000);
      // New connections go to each worker in turn: the replacement's placeholder answers
      // 503, the survivor the cluster's metrics, without waiting for the silent worker.
      const scrapes = [];
      for (let i = 0; i < 4; i++) {
        const started = Date.now();
        const response = await fetch(`${service.baseUrl}/metrics`, {
          headers: { Connection: 'close' },
          signal: AbortSignal.timeout(10_000),
        });
        const text = await response.text();
        scrapes.push({
          status: response.status,
          ms: Date.now() - started,
          workers: text.match(/^process_start_time_seconds\{worker="(\d+)"\}/gm)?.length,
        });
      }
      const answered = scrapes.filter(({ status }) => status === 200);
      expect(answered.length, JSON.stringify(scrapes)).toBeGreaterThan(0);
      expect(scrapes.every(({ status }) => status === 200 || status === 503)).toBe(true);
      expect(
        answered.every(({ ms, workers }) => ms < 4_000 && workers === 1),
        JSON.stringify(scrapes),
      ).toBe(true);
    } finally {
      service.kill('SIGTERM');
      await service.waitForExit();
      await proxy.cut();
    }
  }, 120_000);

  it('with WORKERS=2, exits 0 on SIGTERM while a replaced worker is still loading', async () => {
    const service = await serviceOn(db, { WORKERS: '2' });
    await service.start();
    try {
      const [killed, serving] = workerPids(service.pid!);
      process.kill(killed, 'SIGKILL');
      // The replacement is forked a second later; stop the cluster as soon as it exists.
      const replacement = async () => {
        for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(5)) {
          const fresh = childPids(service.pid!).find((pid) => pid !== killed && pid !== serving);
          if (fresh !== undefined) return fresh;
        }
        throw new Error('no replacement worker was forked');
      };
      await replacement();
      service.kill('SIGTERM');
      expect(await service.waitForExit(), service.output).toBe(0);
    } finally {
      service.kill('SIGKILL');
    }
  }, 120_000);

  it('with WORKERS=2, still answers /metrics, without its series, while one worker is stopped', async () => {
    const service = await serviceOn(db, { WORKERS: '2' });
    await service.start();
    const [stalled, serving] = workerPids(service.pid!);
    try {
      await expect.poll(() => servingWorkers(service.baseUrl), { timeout: 30_000 }).toBe(2);
      process.kill(stalled, 'SIGSTOP');
      // New connections go to each worker in turn: the stopped one's are never answered.
      const scrapes = await Promise.all(
        [0, 1, 2, 3].map(() =>
          fetch(`${service.baseUrl}/metrics`, {
            headers: { Connection: 'close' },
            signal: AbortSignal.timeout(9_000),
          }).then(
            async (response) => ({ status: response.status, text: await response.text() }),
            () => undefined,
          ),
        ),
      );
      const answered = scrapes.filter((scrape) => scrape?.status === 200);
      expect(answered.length).toBeGreaterThan(0);
      for (const { text } of answered as Array<{ text: string }>)
        expect(text.match(/^process_start_time_seconds\{worker="\d+"\}/gm)).toEqual([
          `process_start_time_seconds{worker="${workerSlot(serving)}"}`,
        ]);
    } finally {
      process.kill(stalled, 'SIGCONT');
      service.kill('SIGTERM');
      await service.waitForExit();
    }
  }, 120_000);

  it('with WORKERS=2, keeps the primary up when the worker that asked for cluster metrics dies before the answer', async () => {
    const port = await freePort();
    const service = new ServiceProcess({
      PORT: String(port),
      DATABASE_URL: db.url,
      WORKERS: '2',
      LOG_LEVEL: 'warn',
    });
    await service.start();
    // Both take part in the aggregation before one is stalled.
    await expect.poll(() => servingWorkers(service.baseUrl), { timeout: 30_000 }).toBe(2);
    const [stalled, asking] = workerPids(service.pid!);
    try {
      // The stalled worker holds up the aggregation, so the primary answers only on its timeout.
      process.kill(stalled, 'SIGSTOP');
      const scrapes = [0, 1].map(() =>
        fetch(`${service.baseUrl}/metrics`, {
          headers: { Connection: 'close' },
          signal: AbortSignal.timeout(20_000),
        }).catch(() => undefined),
      );
      await sleep(1_000);
      process.kill(asking, 'SIGKILL');
      await sleep(6_500); // past the primary's 5 s wait for the workers: it answers now
      process.kill(stalled, 'SIGCONT');
      await Promise.all(scrapes);
      expect(service.running, service.output).toBe(true);
      // The primary replaced the dead worker and the cluster serves again.
      await expect
        .poll(async () => (await post(service.baseUrl)).status, { timeout: 15_000 })
        .toBe(200);
    } finally {
      if (service.running) process.kill(stalled, 'SIGCONT');
      service.kill('SIGTERM');
      await service.waitForExit();
    }
  }, 120_000);

  it('stops the start with a message naming HOST and PORT when the port is taken', async () => {
    const port = await freePort();
    // Hangs up at once, so that polling it for readiness fails fast.
    const holder = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const service = new ServiceProcess({ PORT: String(port), DATABASE_URL: db.url });
      await expect(service.start()).rejects.toThrow(
        new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port} \\(HOST, PORT\\).*EADDRINUSE`),
      );
    } finally {
      holder.close();
    }
  }, 60_000);

  it('starts while its database is unreachable: /health 200, /ready and the rest 503, then serves once it is back', async () => {
    const target = new URL(db.url);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    await proxy.cut();
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const service = new ServiceProcess({
      PORT: String(await freePort()),
      DATABASE_URL: viaProxy.toString(),
      RATE_LIMIT_PER_MINUTE: '0',
      CORS_ORIGINS: 'https://shop.example',
    });
    /** The status a GET gets, 0 while nothing listens. */
    const statusOf = (url: string) =>
      fetch(url).then(
        (response) => response.status,
        () => 0,
      );
    service.launch();
    try {
      await expect.poll(() => statusOf(`${service.baseUrl}/health`), { timeout: 30_000 }).toBe(200);
      const ready = await fetch(`${service.baseUrl}/ready`);
      expect(ready.status).toBe(503);
      expect(Number(ready.headers.get('retry-after'))).toBeGreaterThan(0);
      // As the running service's own /ready answers when its database goes away.
      expect(await ready.json()).toMatchObject({
        success: false,
        error: { code: 'not_ready', details: [{ field: 'database', message: 'unreachable' }] },
      });
      const refused = await post(service.baseUrl);
      expect(refused).toMatchObject({ status: 503, retryAfter: expect.any(String) });
      await expectPlaceholderCors(service.baseUrl);
      expect(service.output).toMatch(/unreachable: connect ECONNREFUSED/);

      await proxy.restore();
      // The placeholder answers until the service takes the port over: no second long
      // enough for probes every 20 ms to meet a refused connection more than once.
      // Once the database is reached, while the service starts, it says so.
      const seen: Array<{ status: number; detail?: string }> = [];
      for (
        const deadline = Date.now() + 30_000;
        seen.at(-1)?.status !== 200 && Date.now() < deadline;
      ) {
        seen.push(
          await fetch(`${service.baseUrl}/ready`).then(
            async (response) => ({
              status: response.status,
              detail: ((await response.json()) as { error?: { details: unknown[] } }).error?.details
                ?.map((d) => JSON.stringify(d))
                .join(),
            }),
            () => ({ status: 0 }),
          ),
        );
        await sleep(20);
      }
      expect(seen.at(-1)?.status).toBe(200);
      expect(seen.filter(({ status }) => status === 0).length).toBeLessThanOrEqual(1);
      expect(seen.map(({ detail }) => detail)).toContain(
        JSON.stringify({ field: 'service', message: 'starting: the database is reachable' }),
      );
      const stored = await post(service.baseUrl);
      expect(stored.status).toBe(200);
      expect(await storedIds(db.pool, [refused.eventId, stored.eventId])).toEqual([
        { event_id: stored.eventId, n: 1 },
      ]);
      service.kill('SIGTERM');
      expect(await service.waitForExit()).toBe(0);
    } finally {
      service.kill('SIGKILL');
      await proxy.cut();
    }
  }, 90_000);

  it('stops at once, exit 0, on SIGTERM while waiting for its database; refuses a database that does not exist', async () => {
    const waiting = new ServiceProcess({
      PORT: String(await freePort()),
      DATABASE_URL: `postgresql://postgres@127.0.0.1:${await freePort()}/nowhere`,
    });
    waiting.launch();
    await waiting.waitForOutput(/unreachable/);
    waiting.kill('SIGTERM');
    expect(await waiting.waitForExit(10_000)).toBe(0);

    const missing = new URL(db.url);
    missing.pathname = '/no_such_database_here';
    const refused = new ServiceProcess({
      PORT: String(await freePort()),
      DATABASE_URL: missing.toString(),
    });
    refused.launch();
    expect(await refused.waitForExit(30_000)).toBe(1);
    expect(refused.output).toMatch(/no_such_database_here/);
  }, 60_000);
});

describe('a slow database (a lock held on the events table)', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication;
  let baseUrl: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await createTestApp(db.url, {
      DB_STATEMENT_TIMEOUT_MS: '500',
      RATE_LIMIT_PER_MINUTE: '0',
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = await app.getUrl();
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('answers 503 after the statement timeout instead of hanging, then recovers', async () => {
    expect((await post(baseUrl)).status).toBe(200);
    const locker = new Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
    const during = await Promise.all(Array.from({ length: 10 }, () => post(baseUrl)));
    await sleep(2_000);
    await locker.query('ROLLBACK');
    await locker.end();
    expect(during.map((o) => o.status)).toEqual(Array(10).fill(503));
    expect(during.every((o) => o.retryAfter !== null && o.ms < 3_000)).toBe(true);
    const stored = await storedIds(
      db.pool,
      during.map((o) => o.eventId),
    );
    console.log(
      `slow database: 10 sent during a 2 s lock, ${during.filter((o) => o.status === 503).length} answered 503, ` +
        `slowest ${Math.max(...during.map((o) => o.ms))} ms, ${stored.length} stored`,
    );
    expect(stored).toEqual([]);
    const after = await Promise.all(Array.from({ length: 10 }, () => post(baseUrl)));
    expect(after.map((o) => o.status)).toEqual(Array(10).fill(200));
  }, 30_000);
});

describe('the database goes away under load (a throwaway cluster, stopped and started)', () => {
  let dir: string;
  let cluster: EmbeddedPostgres;
  let app: NestFastifyApplication;
  let baseUrl: string;
  let clusterPort: number;
  const startCluster = () =>
    startEmbeddedPostgres({ dataDir: dir, port: clusterPort, database: 'faults' });

  beforeAll(async () => {
    clusterPort = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'faults-pg-'));
    chmodSync(dir, 0o755); // as root, PostgreSQL runs as the postgres user and must reach it
    cluster = await startCluster();
    const config = loadConfig({ DATABASE_URL: cluster.url });
    await migrateDatabase({ ...config.database, url: cluster.url });
    app = await createTestApp(cluster.url, {
      RATE_LIMIT_PER_MINUTE: '0',
      DB_CONNECT_TIMEOUT_MS: '1000',
      DB_STATEMENT_TIMEOUT_MS: '2000',
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = await app.getUrl();
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After within a bounded time, /ready turns 503, and recovers by itself', async () => {
    const traffic = load(baseUrl, 10);
    await sleep(1_000);
    await cluster.stop();
    await sleep(3_000);
    const ready = await fetch(`${baseUrl}/ready`);
    expect(ready.status).toBe(503);
    cluster = await startCluster();
    await sleep(3_000);
    const outcomes = await traffic.stop();
    const refused = outcomes.filter((o) => o.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((o) => o.retryAfter !== null && o.ms < 5_000)).toBe(true);
    expect(outcomes.every((o) => o.status === 200 || o.status === 503)).toBe(true);
    // Back by itself: no restart of the service.
    expect((await fetch(`${baseUrl}/ready`)).status).toBe(200);
    expect((await post(baseUrl)).status).toBe(200);
    const check = new Client({ connectionString: cluster.url });
    await check.connect();
    const acknowledged = outcomes.filter((o) => o.status === 200).map((o) => o.eventId);
    const rows = await storedIds(check, acknowledged);
    await check.end();
    console.log(
      `database away: ${outcomes.length} sent, ${acknowledged.length} acknowledged, ${refused.length} answered 503 ` +
        `(slowest ${Math.max(...refused.map((o) => o.ms))} ms), ${acknowledged.length - rows.length} acknowledged but lost`,
    );
    expect(rows).toHaveLength(acknowledged.length);
  }, 60_000);
});
