import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sql } from '../src/persistence/database';
import { REPORT_DATABASE } from '../src/persistence/report-database';
import { anEvent } from './support/event-factory';
import { FakeGa4 } from './support/fake-ga4';
import { adminQuery, withDatabase } from './support/postgres-admin';
import { PgBouncer, startPgBouncer } from './support/pgbouncer';
import { TcpProxy } from './support/tcp-proxy';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

const KEY = 'replica-key-0123456789';
const COPIED_TABLES = [
  'events',
  'event_ids',
  'identity_links',
  'attribution_daily',
  'attribution_state',
];

/**
 * REPORT_DATABASE_URL: writes go to DATABASE_URL, report queries to the other database.
 * A second database stands in for the read replica: it sees only what is copied to it.
 */
describe('reports read from REPORT_DATABASE_URL', () => {
  let primary: TestDatabase;
  let replica: TestDatabase;
  let app: NestFastifyApplication;
  const report = async () =>
    (
      await request(app.getHttpServer())
        .get('/v1/events/conversions')
        .set('X-API-Key', KEY)
        .expect(200)
    ).body;

  beforeAll(async () => {
    [primary, replica] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    app = await createTestApp(primary.url, { API_KEYS: KEY, REPORT_DATABASE_URL: replica.url });
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all([primary?.drop(), replica?.drop()]);
  });

  it('writes to the primary and reports what the replica holds', async () => {
    for (let n = 0; n < 3; n++)
      await request(app.getHttpServer()).post('/v1/events/track').send(anEvent()).expect(200);
    expect((await report()).totals.conversions).toBe(0);
    const { rows } = await primary.pool.query('SELECT count(*)::int AS n FROM events');
    expect(rows[0].n).toBe(3);

    // What replication would do: the replica catches up with the primary.
    for (const table of COPIED_TABLES) {
      const { rows: copied } = await primary.pool.query(`SELECT * FROM ${table}`);
      await replica.pool.query(`TRUNCATE ${table}`);
      for (const row of copied) {
        const columns = Object.keys(row);
        await replica.pool.query(
          `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
          columns.map((column) =>
            typeof row[column] === 'object' &&
            row[column] !== null &&
            !(row[column] instanceof Date)
              ? JSON.stringify(row[column])
              : row[column],
          ),
        );
      }
    }
    expect((await report()).totals.conversions).toBe(3);
  });
});

describe('a REPORT_DATABASE_URL that is away', () => {
  const ga4 = new FakeGa4();
  let primary: TestDatabase;
  let replica: TestDatabase;
  let proxy: TcpProxy;
  let app: NestFastifyApplication;
  const read = (path: string) =>
    request(app.getHttpServer()).get(path).set('X-API-Key', KEY).timeout(15_000);
  const conversions = () => read('/v1/events/conversions');
  const timed = async (path: string) => {
    const started = performance.now();
    const response = await read(path);
    return { response, ms: performance.now() - started };
  };

  beforeAll(async () => {
    await ga4.start();
    [primary, replica] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    const { hostname, port, pathname } = new URL(replica.url);
    proxy = new TcpProxy(hostname, Number(port));
    await proxy.start();
    await proxy.cut(); // the replica is away: nothing listens on its port
    app = await createTestApp(primary.url, {
      ...ga4.env(),
      API_KEYS: KEY,
      RECONCILE_EVENT_TYPES: 'purchase',
      DB_CONNECT_TIMEOUT_MS: '500',
      DB_STATEMENT_TIMEOUT_MS: '500',
      REPORT_DATABASE_URL: `postgresql://postgres@127.0.0.1:${proxy.port}${pathname}`,
    });
  });
  afterAll(async () => {
    await app?.close();
    await proxy?.cut();
    await ga4.stop();
    await Promise.all([primary?.drop(), replica?.drop()]);
  });

  it('at start: tracking goes on, reports answer 503 and ask GA4 nothing, then read it once it answers', async () => {
    await request(app.getHttpServer()).post('/v1/events/track').send(anEvent()).expect(200);
    for (const path of [
      '/v1/events/conversions',
      '/v1/funnels/default',
      `/v1/events/reconcile?start_date=2026-11-01&end_date=2026-11-02`,
    ]) {
      const away = await read(path).expect(503);
      expect(away.body.error.code).toBe('database_unavailable');
      expect(away.body.error.message).toMatch(/report database/);
      expect(Number(away.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect(ga4.runReportCalls).toHaveLength(0);

    await proxy.restore();
    await expect.poll(async () => (await conversions()).status, { timeout: 5_000 }).toBe(200);
    // The replica's own (empty) copy: the event went to the primary.
    expect((await conversions()).body.totals.conversions).toBe(0);
  });

  it('answers at once while a replica that stopped answering is away, and reads it when it is back', async () => {
    await conversions().expect(200);
    proxy.freeze(); // open connections go silent; new ones get no answer either
    const first = await timed('/v1/events/conversions');
    expect(first.response.status).toBe(503);
    expect(first.ms).toBeLessThan(5_000); // the driver's own limit, not the request's
    const next = await timed('/v1/events/conversions');
    expect(next.response.status).toBe(503);
    expect(next.ms).toBeLessThan(300); // no second wait for what is known away

    proxy.abandonOpenConnections(); // new connections go through again
    await expect.poll(async () => (await conversions()).status, { timeout: 8_000 }).toBe(200);
  });
});

describe('a REPORT_DATABASE_URL that refuses the service', () => {
  let primary: TestDatabase;
  let bouncer: PgBouncer | undefined;
  beforeAll(async () => {
    primary = await createTestDatabase();
  });
  afterAll(async () => {
    await bouncer?.stop();
    await primary?.drop();
  });
  const refusedStart = async (reportUrl: string, reason: RegExp) => {
    const start = createTestApp(primary.url, { REPORT_DATABASE_URL: reportUrl });
    await expect(start).rejects.toThrow(
      new RegExp(`\\(REPORT_DATABASE_URL\\): .*${reason.source}`),
    );
    await expect(start).rejects.not.toThrow(/s3cret/);
  };

  it('stops the start naming the variable, without the password', async () => {
    const { host } = new URL(primary.url);
    await refusedStart(
      `postgresql://reader:s3cret@${host}/no_such_reports_database`,
      /does not exist/,
    );
  });

  it('stops the start on a database without the schema', async () => {
    const url = withDatabase(primary.url, `${new URL(primary.url).pathname.slice(1)}_empty`);
    await adminQuery(primary.url, [`CREATE DATABASE "${new URL(url).pathname.slice(1)}"`]);
    try {
      await refusedStart(url, /relation "events" does not exist/);
    } finally {
      await adminQuery(primary.url, [`DROP DATABASE "${new URL(url).pathname.slice(1)}"`]);
    }
  });

  it('stops the start when a pooler refuses it: REPORT_DB_TRANSACTION_POOLING forgotten', async () => {
    bouncer = await startPgBouncer(primary.url);
    await refusedStart(bouncer.url, /unsupported startup parameter/);
  });
});

/**
 * A replica may sit behind a transaction pooler when the primary does not, or the other
 * way round: each connection gets its session settings only where it can keep them.
 */
describe('REPORT_DB_TRANSACTION_POOLING', () => {
  let primary: TestDatabase;
  let replica: TestDatabase;
  let bouncer: PgBouncer; // in front of the replica
  let primaryBouncer: PgBouncer;
  const apps: NestFastifyApplication[] = [];
  const start = async (databaseUrl: string, env: Record<string, string>) => {
    const app = await createTestApp(databaseUrl, { DB_STATEMENT_TIMEOUT_MS: '4321', ...env });
    apps.push(app);
    return app;
  };
  const reportTimeout = async (app: NestFastifyApplication) => {
    const [row] = await app
      .get<Sql>(REPORT_DATABASE)
      .query<{ timeout: string }>(`SELECT current_setting('statement_timeout') AS timeout`);
    return row.timeout;
  };

  beforeAll(async () => {
    [primary, replica] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    [bouncer, primaryBouncer] = await Promise.all([
      startPgBouncer(replica.url),
      startPgBouncer(primary.url),
    ]);
  });
  afterAll(async () => {
    try {
      await Promise.all(apps.map((app) => app.close()));
    } finally {
      await Promise.all([bouncer?.stop(), primaryBouncer?.stop()]);
      await Promise.all([primary?.drop(), replica?.drop()]);
    }
  });

  it('reads a pooled replica beside a primary reached directly', async () => {
    const app = await start(primary.url, {
      API_KEYS: KEY,
      REPORT_DATABASE_URL: bouncer.url,
      REPORT_DB_TRANSACTION_POOLING: 'true',
    });
    await request(app.getHttpServer())
      .get('/v1/events/conversions')
      .set('X-API-Key', KEY)
      .expect(200);
    expect(await reportTimeout(app)).toBe('0'); // the server's own: nothing sent at connect
  });

  it('sets the session of a replica reached directly beside a pooled primary', async () => {
    const app = await start(primaryBouncer.url, {
      DB_TRANSACTION_POOLING: 'true',
      MIGRATE_ON_START: 'false',
      REPORT_DATABASE_URL: replica.url,
      REPORT_DB_TRANSACTION_POOLING: 'false',
    });
    expect(await reportTimeout(app)).toBe('4321ms');
  });

  it('follows DB_TRANSACTION_POOLING when unset', async () => {
    const app = await start(primaryBouncer.url, {
      DB_TRANSACTION_POOLING: 'true',
      MIGRATE_ON_START: 'false',
      REPORT_DATABASE_URL: replica.url,
    });
    expect(await reportTimeout(app)).toBe('0');
  });
});
