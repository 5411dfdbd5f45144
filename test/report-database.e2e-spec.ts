import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { freePort } from './support/free-port';
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

describe('a REPORT_DATABASE_URL that cannot be reached', () => {
  let primary: TestDatabase;
  beforeAll(async () => {
    primary = await createTestDatabase();
  });
  afterAll(async () => {
    await primary?.drop();
  });

  it('stops the start naming the variable, without the password', async () => {
    const port = await freePort(); // nothing listens there
    const start = createTestApp(primary.url, {
      REPORT_DATABASE_URL: `postgresql://reader:s3cret@127.0.0.1:${port}/reports`,
    });
    await expect(start).rejects.toThrow(/\(REPORT_DATABASE_URL\): .*ECONNREFUSED/);
    await expect(start).rejects.not.toThrow(/s3cret/);
  });
});
