import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.setup';
import { loadConfig } from '../../src/config/app-config';

/** Builds the real application (same setup as main.ts) on the given database, ready for supertest. */
export async function createTestApp(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<NestFastifyApplication> {
  const config = loadConfig({
    LOG_LEVEL: 'error',
    // No background rollup refresh racing the tests' TRUNCATEs; reports still refresh first.
    REPORT_REFRESH_INTERVAL_MS: '0',
    CORS_ORIGINS: 'https://shop.example.com,https://*.example.org',
    ...env,
    DATABASE_URL: databaseUrl,
  });
  const app = await createApp(config, { ...config.database, url: databaseUrl });
  await app.init();
  // supertest hangs on a Fastify instance that is not ready yet.
  await app.getHttpAdapter().getInstance().ready();
  return app;
}
