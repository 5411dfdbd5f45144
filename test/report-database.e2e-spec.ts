import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sql } from '../src/persistence/database';
import { REPORT_DATABASE } from '../src/persistence/report-database';
import { anEvent } from './support/event-factory';
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

describe('a REPORT_DATABASE_URL that is away at start', () => {
  let primary: TestDatabase;
  let replica: TestDatabase;
  let proxy: TcpProxy;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    [primary, replica] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    const { hostname, port, pathname } = new URL(replica.url);
    proxy = new TcpProxy(hostname, Number(port));
    await proxy.start();
    await proxy.cut(); // the replica is away: nothing listens on its port
    app = await createTestApp(primary.url, {
      API_KEYS: KEY,
      REPORT_DATABASE_URL: `postgresql://postgres@127.0.0.1:${proxy.port}${pathname}`,
    });
  });
  afterAll(async () => {
    await app?.close();
    await proxy?.cut();
    await Promise.all([primary?.drop(), replica?.drop()]);
  });

  it('starts and tracks; reports answer 503 until the replica answers, then read it', async () => {
    await request(app.getHttpServer()).post('/v1/events/track').send(anEvent()).expect(200);
    const away = await request(app.getHttpServer())
      .get('/v1/events/conversions')
      .set('X-API-Key', KEY)
      .expect(503);
    expect(away.body.error.code).toBe('database_unavailable');
    expect(Number(away.headers['retry-after'])).toBeGreaterThan(0);

    await proxy.restore();
    const back = await request(app.getHttpServer())
      .get('/v1/events/conversions')
      .set('X-API-Key', KEY)
      .expect(200);
    expect(back.body.totals.conversions).toBe(0); // the replica's own (empty) copy
  });
});

describe('a REPORT_DATABASE_URL that refuses the service', () => {
  let primary: TestDatabase;
  beforeAll(async () => {
    primary = await createTestDatabase();
  });
  afterAll(async () => {
    await primary?.drop();
  });

  it('stops the start naming the variable, without the password', async () => {
    const { host } = new URL(primary.url);
    const start = createTestApp(primary.url, {
      REPORT_DATABASE_URL: `postgresql://reader:s3cret@${host}/no_such_reports_database`,
    });
    await expect(start).rejects.toThrow(/\(REPORT_DATABASE_URL\): .*does not exist/);
    await expect(start).rejects.not.toThrow(/s3cret/);
  });
});

/**
 * A replica may sit behind a transaction pooler when the primary does not, or the other
 * way round: each connection gets its session settings only where it can keep them.
 */
describe('REPORT_DB_TRANSACTION_POOLING', () => {
  let primary: TestDatabase;
  let replica: TestDatabase;
  let bouncer: PgBouncer;
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
    bouncer = await startPgBouncer(replica.url);
  });
  afterAll(async () => {
    try {
      await Promise.all(apps.map((app) => app.close()));
    } finally {
      await bouncer?.stop();
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
    const app = await start(primary.url, {
      DB_TRANSACTION_POOLING: 'true',
      MIGRATE_ON_START: 'false',
      REPORT_DATABASE_URL: replica.url,
      REPORT_DB_TRANSACTION_POOLING: 'false',
    });
    expect(await reportTimeout(app)).toBe('4321ms');
  });

  it('follows DB_TRANSACTION_POOLING when unset', async () => {
    const app = await start(primary.url, {
      DB_TRANSACTION_POOLING: 'true',
      MIGRATE_ON_START: 'false',
      REPORT_DATABASE_URL: replica.url,
    });
    expect(await reportTimeout(app)).toBe('0');
  });
});
