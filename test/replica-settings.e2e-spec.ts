import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

const KEY = 'settings-key-0123456789';

/**
 * A rolling change of CONVERSION_EVENT_TYPES: the replica started last restarts the
 * rollup for its settings, and one still running the old ones must not fold into it.
 */
describe('replicas with different attribution settings on one database', () => {
  let db: TestDatabase;
  let older: NestFastifyApplication;
  let newer: NestFastifyApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    older = await createTestApp(db.url, { API_KEYS: KEY });
    newer = await createTestApp(db.url, { API_KEYS: KEY, CONVERSION_EVENT_TYPES: 'purchase' });
  });
  afterAll(async () => {
    await older?.close();
    await newer?.close();
    await db?.drop();
  });

  const conversions = async (app: NestFastifyApplication) => {
    const response = await request(app.getHttpServer())
      .get('/v1/events/conversions')
      .set('X-API-Key', KEY)
      .expect(200);
    return response.body.totals.conversions as number;
  };

  it('each answers by its own settings, and the rollup keeps the newer ones', async () => {
    for (const eventType of ['add_to_cart', 'purchase']) {
      await request(older.getHttpServer())
        .post('/v1/events/track')
        .send(anEvent({ event_type: eventType, visitor_id: 'rolling-visitor' }))
        .expect(200);
    }
    // The older replica's report drains marks first: it must not fold them its way...
    expect(await conversions(older)).toBe(2);
    // ...so the rollup the newer one reads holds its own definition of a conversion.
    expect(await conversions(newer)).toBe(1);
    expect(await conversions(older)).toBe(2);
  });
});
