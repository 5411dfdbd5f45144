import 'reflect-metadata';
import cluster from 'node:cluster';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp, nestLogLevels } from './app.setup';
import { runClusterPrimary } from './cluster-primary';
import { AppConfig } from './config/app-config';
import { loadConfigOrExit } from './config/load-config-or-exit';
import { resolveDatabaseWhenReachable } from './database-wait';
import { errorText } from './common/error-text';
import { drainConnections } from './common/http/close-on-shutdown';
import { ServerClosing } from './common/http/server-closing';
import { Shutdown } from './shutdown';

const MIN_SAFE_API_KEY_LENGTH = 16;
/** Long enough for every busy connection to get an answer that closes it. */
const MAX_DRAIN_MS = 1_000;

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit();
  Logger.overrideLogger(nestLogLevels(config));
  if (config.http.workers > 1 && cluster.isPrimary) return runClusterPrimary(config);
  await serve(config);
}

async function serve(config: AppConfig): Promise<void> {
  const logger = new Logger('Bootstrap');
  if (config.apiKeys.length === 0) {
    logger.warn(
      'API_KEYS is not set: the read endpoints answer 401 until you set API_KEYS=<key>[,<key>...] (random keys of 32+ characters)',
    );
  }
  // Short keys still work (the operator chose them); guessing one is what the warning is about.
  const shortKeys = config.apiKeys.filter((key) => key.length < MIN_SAFE_API_KEY_LENGTH).length;
  if (shortKeys > 0) {
    logger.warn(
      `API_KEYS holds ${shortKeys} key(s) shorter than ${MIN_SAFE_API_KEY_LENGTH} characters: easy to guess, use random keys of 32+ characters`,
    );
  }
  const shutdown = new Shutdown(config.http.shutdownTimeoutMs);
  const database = await resolveDatabaseWhenReachable(config, shutdown);
  shutdown.onStop(() => database.stop());
  await shutdown.checkpoint();
  const app = await createApp(config, database.database);
  shutdown.onStop(() => stopApp(app, config));
  await shutdown.checkpoint();

  // Apart from listen(), which would run it: a module refusing to start is not a HOST or PORT problem.
  await app.init();
  await shutdown.checkpoint();
  const { host, port } = config.http;
  await database.handOver();
  await app.listen({ port, host }).catch((error: unknown) => {
    // EADDRINUSE, or a HOST that resolves to no address here: say which setting to look at.
    throw new Error(`Cannot listen on ${host}:${port} (HOST, PORT): ${errorText(error)}`);
  });
  // getUrl() names 127.0.0.1 for 0.0.0.0: say where the socket is bound.
  logger.log(
    `Listening on ${host}:${port}, ${await app.getUrl()} from here (API docs at /docs, OpenAPI at /openapi.json)`,
  );
  await shutdown.servingNow();
}

/**
 * The HTTP server first: it stops accepting, lets busy kept-alive connections close after
 * their next answer, and waits for in-flight requests (their writes included). Nest's
 * close() would close it only after the modules' shutdown hooks, which wait for background
 * passes, accepting requests all the while. Then the background work and the pool.
 */
async function stopApp(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const serverClosing = app.get(ServerClosing);
  serverClosing.stop();
  // Only once serving: a stop during the start has no load balancer to wait for.
  if (config.http.shutdownDelayMs > 0 && app.getHttpServer().listening) {
    new Logger('Bootstrap').log(
      `Serving ${config.http.shutdownDelayMs} ms more, /ready answering 503 (SHUTDOWN_DELAY_MS)`,
    );
    await sleep(config.http.shutdownDelayMs);
  }
  await drainConnections(
    app.getHttpServer(),
    serverClosing,
    Math.min(MAX_DRAIN_MS, config.http.shutdownTimeoutMs / 4),
    // Requests still arriving then have up to half the stop's time.
    config.http.shutdownTimeoutMs / 2,
  );
  await app.getHttpAdapter().close();
  await app.close();
}

bootstrap().catch((error: unknown) => {
  new Logger('Bootstrap').fatal(errorText(error));
  process.exit(1);
});
