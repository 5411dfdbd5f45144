import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeAll } from 'vitest';
import { FakeGa4 } from './fake-ga4';
import { createTestApp } from './test-app';
import { TestDatabase, createTestDatabase } from './test-database';

export const SCHEDULE_API_KEY = 'schedule-key-0123456789';

/** A fake GA4, a fresh database and one service reconciling every second, for one describe. */
export function scheduledService(
  env: Record<string, string>,
  beforeStart: (fake: FakeGa4) => unknown = () => undefined,
) {
  const fake = new FakeGa4();
  const service = {} as { db: TestDatabase; app: NestFastifyApplication };
  beforeAll(async () => {
    await fake.start();
    service.db = await createTestDatabase();
    beforeStart(fake);
    service.app = await createTestApp(service.db.url, {
      API_KEYS: SCHEDULE_API_KEY,
      ...fake.env(),
      RECONCILE_CRON: '* * * * * *',
      RECONCILE_EVENT_TYPES: 'purchase',
      ...env,
    });
  });
  afterAll(async () => {
    await service.app?.close();
    await service.db?.drop();
    await fake.stop();
  });
  return service;
}
