import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';
import { TcpProxy } from './support/tcp-proxy';

// A Redis database of its own, emptied first, so no other test's counters interfere.
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/11';

/** Two instances of the service on one PostgreSQL (and one Redis), as two replicas run. */
describe('two replicas on one database', () => {
  let db: TestDatabase;
  let replicas: NestFastifyApplication[] = [];
  const http = (i: number) => request(replicas[i].getHttpServer());

  beforeAll(async () => {
    const redis = new Redis(REDIS_URL);
    await redis.flushdb();
    await redis.quit();
    db = await createTestDatabase();
    const env = { REDIS_URL, RATE_LIMIT_PER_MINUTE: '40', API_KEYS: 'replica-key-0123456789' };
    replicas = await Promise.all([createTestApp(db.url, env), createTestApp(db.url, env)]);
  });
  afterAll(async () => {
    await Promise.all(replicas.map((app) => app.close()));
    await db?.drop();
  });

  it('stores an event sent to both at once exactly once', async () => {
    for (let round = 0; round < 3; round++) {
      const event = anEvent({ event_id: randomUUID() });
      const answers = await Promise.all(
        [0, 1, 0, 1].map((i) => http(i).post('/v1/events/track').send(event)),
      );
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      expect(answers.filter((a) => a.body.duplicate === false)).toHaveLength(1);
      const { rows } = await db.pool.query(
        'SELECT count(*)::int AS n FROM events WHERE event_id = $1',
        [event.event_id],
      );
      expect(rows[0].n).toBe(1);
    }
  });

  it('moves one subject forward through both, never back, with one unbroken history', async () => {
    const stages = ['visit', 'lead', 'signup', 'customer'];
    // Shuffled stage updates for one user through alternating replicas, all at once.
    const updates = [3, 1, 2, 0, 2, 3, 1, 0].map((stage, n) =>
      http(n % 2)
        .post('/v1/events/funnel')
        .send({ funnel: 'default', stage: stages[stage], user_id: 'replicated-user' }),
    );
    for (const answer of await Promise.all(updates)) expect(answer.status).toBe(200);
    const { rows: progress } = await db.pool.query(
      "SELECT stage FROM funnel_progress WHERE subject_id = 'replicated-user'",
    );
    expect(progress).toEqual([{ stage: 'customer' }]);
    const { rows: history } = await db.pool.query(
      "SELECT from_stage, to_stage FROM funnel_transitions WHERE subject_id = 'replicated-user' ORDER BY id",
    );
    // Each move starts where the previous one ended.
    for (let i = 1; i < history.length; i++)
      expect(history[i].from_stage).toBe(history[i - 1].to_stage);
    expect(history.at(-1).to_stage).toBe('customer');
  });

  it('shares the per-client rate limit through Redis', async () => {
    const redis = new Redis(REDIS_URL);
    await redis.flushdb();
    await redis.quit();
    const statuses: number[] = [];
    for (let n = 0; n < 42; n++) {
      statuses.push(
        (
          await http(n % 2)
            .post('/v1/events/track')
            .send(anEvent())
        ).status,
      );
    }
    // 40 a minute for this client in all, not 40 per replica (which would let all 42 through).
    expect(statuses).toEqual([...Array(40).fill(200), 429, 429]);
  });
});

describe('the shared rate limit when Redis is unreachable', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await createTestApp(db.url, {
      REDIS_URL: 'redis://127.0.0.1:9/0',
      RATE_LIMIT_PER_MINUTE: '2',
    });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('lets tracking through rather than losing events', async () => {
    for (let n = 0; n < 4; n++) {
      await request(app.getHttpServer()).post('/v1/events/track').send(anEvent()).expect(200);
    }
  });
});

describe('the shared rate limit when Redis stops answering', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication;
  const target = new URL(REDIS_URL);
  const redis = new TcpProxy(target.hostname, Number(target.port || 6379));

  beforeAll(async () => {
    db = await createTestDatabase();
    await redis.start();
    const throughProxy = new URL(REDIS_URL);
    throughProxy.port = String(redis.port);
    app = await createTestApp(db.url, {
      REDIS_URL: throughProxy.href,
      RATE_LIMIT_PER_MINUTE: '1000',
    });
  });
  afterAll(async () => {
    await redis.cut();
    await app?.close();
    await db?.drop();
  });

  it('lets tracking through within a moment of its connection going silent, and still closes', async () => {
    const track = () =>
      request(app.getHttpServer()).post('/v1/events/track').send(anEvent()).expect(200);
    await track();
    redis.freeze();
    const started = performance.now();
    await track();
    await track();
    expect(performance.now() - started).toBeLessThan(2_000);
    // Once the silent connection is dropped, requests no longer wait for Redis at all.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const later = performance.now();
    for (let i = 0; i < 5; i++) await track();
    expect(performance.now() - later).toBeLessThan(500);
  }, 20_000);
});
