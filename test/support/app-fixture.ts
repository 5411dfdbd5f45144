import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll } from 'vitest';
import { createTestApp } from './test-app';
import { TestDatabase, createTestDatabase } from './test-database';

export interface AppFixture {
  db: TestDatabase;
  app: NestFastifyApplication;
  /** A supertest agent on the app's server. */
  http(): ReturnType<typeof request>;
  /** Empties every table the tracking and funnel paths write. */
  reset(): Promise<void>;
}

const WRITTEN_TABLES = [
  'events',
  'event_ids',
  'identity_links',
  'funnel_progress',
  'funnel_stage_reached',
  'funnel_transitions',
  'funnel_update_requests',
  'funnel_link_merges',
  'attribution_marks',
  'conversion_credits',
  'attribution_daily',
  'retention_state',
];

/** A fresh database and the real app on it for one test file, torn down after it. */
/** `env` may be a function, read when the fixture starts (for values other fixtures set up first). */
export function useAppFixture(
  env: Record<string, string> | (() => Record<string, string>) = {},
): AppFixture {
  const fixture = {} as AppFixture;
  beforeAll(async () => {
    fixture.db = await createTestDatabase();
    fixture.app = await createTestApp(fixture.db.url, typeof env === 'function' ? env() : env);
  });
  afterAll(async () => {
    await fixture.app?.close();
    await fixture.db?.drop();
  });
  fixture.http = () => request(fixture.app.getHttpServer());
  fixture.reset = async () => {
    // The app's start-up partition maintenance may still be at work on these tables, and
    // PostgreSQL may break the deadlock that makes by failing the TRUNCATE: try again.
    for (let attempt = 1; ; attempt++) {
      try {
        await fixture.db.pool.query(`TRUNCATE ${WRITTEN_TABLES.join(', ')}`);
        return;
      } catch (error) {
        if ((error as { code?: unknown }).code !== '40P01' || attempt === 5) throw error;
      }
    }
  };
  return fixture;
}
