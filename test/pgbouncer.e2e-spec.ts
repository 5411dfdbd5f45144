import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { adminQuery } from './support/postgres-admin';
import { PgBouncer, startPgBouncer } from './support/pgbouncer';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

const KEY = 'pooled-key-0123456789';
const STATEMENT_TIMEOUT_MS = 500;

/**
 * Two replicas through one PgBouncer in transaction mode with 3 server connections for
 * their 2 × 10 client connections: consecutive statements of one client connection
 * land on different server sessions, so any session state the service relied on
 * (named prepared statements, SET, session advisory locks) would break here.
 */
describe('behind PgBouncer in transaction mode', () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  let replicas: NestFastifyApplication[] = [];
  const http = (i: number) => request(replicas[i % 2].getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    // What an operator sets on the service's role: a pooler cannot carry it per session.
    const name = new URL(db.url).pathname.slice(1);
    await adminQuery(db.url, [
      `ALTER DATABASE ${name} SET statement_timeout = '${STATEMENT_TIMEOUT_MS}ms'`,
      `ALTER DATABASE ${name} SET jit = off`,
    ]);
    bouncer = await startPgBouncer(db.url);
    const env = {
      DB_TRANSACTION_POOLING: 'true',
      DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      API_KEYS: KEY,
      RATE_LIMIT_PER_MINUTE: '0',
      // The rollup refreshers of both replicas run, taking turns through the pooler.
      REPORT_REFRESH_INTERVAL_MS: '20',
    };
    replicas = await Promise.all([
      createTestApp(bouncer.url, env),
      createTestApp(bouncer.url, env),
    ]);
  });
  afterAll(async () => {
    try {
      await Promise.all(replicas.map((app) => app.close()));
    } finally {
      await bouncer?.stop();
      await db?.drop();
    }
  });

  it('stores each event once under concurrency, duplicates answered as such', async () => {
    const events = Array.from({ length: 150 }, () => anEvent());
    // Every event sent twice, once to each replica, all at once; plus a batch repeating some.
    const sends = [...events, ...events].map((event, n) =>
      http(n).post('/v1/events/track').send(event),
    );
    const batch = http(1)
      .post('/v1/events/track/batch')
      .send({ events: [events[0], events[1], anEvent(), events[0]] });
    const [answers, batchAnswer] = await Promise.all([Promise.all(sends), batch]);
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(batchAnswer.status).toBe(200);
    expect(batchAnswer.body.results.map((r: { success: boolean }) => r.success)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    const firsts = answers.filter((answer) => answer.body.duplicate === false).length;
    const batchFirsts = batchAnswer.body.results.filter(
      (r: { duplicate: boolean }) => r.duplicate === false,
    ).length;
    expect(firsts + batchFirsts).toBe(151);
    const { rows } = await db.pool.query(
      'SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM events',
    );
    expect(rows[0]).toEqual({ n: 151, d: 151 });
  });

  it('links a visitor to its user and carries its funnel progress across replicas', async () => {
    const visitor = `v_${randomUUID().slice(0, 8)}`;
    const user = `u_${randomUUID().slice(0, 8)}`;
    const page = 'https://shop.example.com/?utm_source=pooled&utm_medium=cpc&utm_campaign=pool';
    await http(0)
      .post('/v1/events/track')
      .send(anEvent({ event_type: 'page_view', visitor_id: visitor, page_url: page }))
      .expect(200);
    await http(1)
      .post('/v1/events/track')
      .send(anEvent({ event_type: 'sign_up', visitor_id: visitor, user_id: user, page_url: page }))
      .expect(200);
    await http(0)
      .post('/v1/events/funnel')
      .send({ funnel: 'default', stage: 'customer', user_id: user })
      .expect(200);
    const { rows: progress } = await db.pool.query(
      'SELECT subject_type, stage FROM funnel_progress WHERE subject_id IN ($1, $2)',
      [visitor, user],
    );
    expect(progress).toEqual([{ subject_type: 'user', stage: 'customer' }]);

    const report = await http(1)
      .get('/v1/events/conversions?utm_source=pooled&event_type=sign_up')
      .set('X-API-Key', KEY)
      .expect(200);
    expect(report.body.totals.conversions).toBe(1);
    const funnel = await http(0).get('/v1/funnels/default').set('X-API-Key', KEY).expect(200);
    expect(JSON.stringify(funnel.body)).toContain('customer');
  });

  it("is bounded by the role's statement timeout: 503, then recovers", async () => {
    const locker = await db.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const answer = await http(0).post('/v1/events/track').send(anEvent());
      expect(answer.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    await http(1).post('/v1/events/track').send(anEvent()).expect(200);
  });

  it('does not start through the pooler without DB_TRANSACTION_POOLING', async () => {
    await expect(createTestApp(bouncer.url, {})).rejects.toThrow(/unsupported startup parameter/);
  });
});
