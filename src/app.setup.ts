import rateLimit from '@fastify/rate-limit';
import { Logger, NotFoundException, type LogLevel } from '@nestjs/common';
import { Redis } from 'ioredis';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { ModuleRef, NestFactory } from '@nestjs/core';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { useContainer } from 'class-validator';
import { dump } from 'js-yaml';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RequestListener, createServer } from 'node:http';
import { AppModule } from './app.module';
import { AppConfig } from './config/app-config';
import { API_KEY_SCHEME, BEARER_SCHEME } from './common/http/api-key.guard';
import { answerClientError, registerHostHeaderCheck } from './common/http/client-error-handler';
import { registerPublicCors } from './common/http/cors';
import { closeConnectionsOnShutdown } from './common/http/close-on-shutdown';
import { ServerClosing } from './common/http/server-closing';
import { registerMethodNotAllowed } from './common/http/method-not-allowed';
import { registerSecurityHeaders, securityHeaders } from './common/http/security-headers';
import { depthLimitedJsonParser } from './common/http/json-body-parser';
import { RateLimitedError } from './common/http/domain-error';
import { mapError } from './common/http/error-mapping';
import { PublicRouteConfig } from './common/http/public-endpoint';
import { generateRequestId, registerRequestIdHeader } from './common/http/request-id';
import { addDescriptionPaths, DESCRIPTION_TAG } from './common/openapi/description-paths';
import { refineOpenApiDocument } from './common/openapi/refine-document';
import { registerHttpMetrics } from './metrics/http-metrics';
import { MetricsService } from './metrics/metrics.service';
import { rateLimitKey } from './tracking/client-context';
import { ConnectableDatabase } from './persistence/orm-options';

const SECURITY_HEADERS = securityHeaders();

/** Builds the application without listening: shared by main.ts, the tests and the benchmarks. */
export async function createApp(
  config: AppConfig,
  database: ConnectableDatabase,
): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot({ config, database }),
    createFastifyAdapter(config),
    { bodyParser: false, logger: nestLogLevels(config), abortOnError: false },
  );
  await configureApp(app, config);
  return app;
}

/**
 * An idle keep-alive connection outlives the idle timeouts of common load balancers (60 s),
 * so they close it first and never send a request on a connection being closed (Node's
 * default, 5 s, makes them do so now and then: a 502 at the balancer).
 */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

function createFastifyAdapter(config: AppConfig): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: config.tracking.maxBodyBytes,
    trustProxy: config.http.trustProxy,
    genReqId: generateRequestId,
    // Slow clients may not hold a socket forever: a request must arrive whole within
    // HTTP_REQUEST_TIMEOUT_MS (Node checks every second, not its default 30 s). With a
    // serverFactory, Fastify leaves every server timeout to it.
    serverFactory: (handler: RequestListener) => {
      const server = createServer(
        {
          requestTimeout: config.http.requestTimeoutMs,
          headersTimeout: config.http.requestTimeoutMs,
          connectionsCheckingInterval: 1_000,
          maxHeaderSize: 16_384,
          requireHostHeader: false, // refused in the envelope instead: registerHostHeaderCheck
        },
        handler,
      );
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      // An Expect other than 100-continue: RFC 9110 lets a server refuse it with 417, which
      // Node does, bare, outside every hook. Served as if it were absent instead.
      server.on('checkExpectation', handler);
      return server;
    },
    frameworkErrors: answerRoutingError,
    clientErrorHandler: answerClientError,
    // A request on a keep-alive connection while closing is served (in the envelope, its
    // connection then closed), not refused with Fastify's own 503 body.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    logger: false,
  });
}

/**
 * Errors Fastify's router answers by itself, outside Nest's filters: a URL whose
 * percent-encoding is broken or whose parameter is over maxParamLength names no resource,
 * so it is a 404 in the same envelope as any unknown path. No hook has run, so the
 * headers every answer carries are set here.
 */
function answerRoutingError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const routing = ['FST_ERR_BAD_URL', 'FST_ERR_MAX_PARAM_LENGTH'].includes(error.code);
  const mapped = mapError(
    routing ? new NotFoundException(`Not found: ${error.message}`) : error,
    String(request.id),
  );
  void reply
    .code(mapped.status)
    .headers(SECURITY_HEADERS)
    .header('X-Request-Id', request.id)
    .send(mapped.body);
}

async function configureApp(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();
  registerJsonBodyParsers(fastify);
  registerRequestIdHeader(fastify);
  registerHostHeaderCheck(fastify);
  closeConnectionsOnShutdown(fastify, app.get(ServerClosing));
  registerHttpMetrics(fastify, app.get(MetricsService));
  // Helmet first: the CORS hook answers refused origins and preflights itself, and
  // those answers carry the security headers too.
  registerSecurityHeaders(fastify);
  registerMethodNotAllowed(fastify, registerPublicCors(fastify, config.http.corsOrigins));
  if (config.tracking.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      // Global with an allow-list rather than per-route limits: per-route limits keep
      // one counter per route, and the public endpoints share one budget per client.
      global: true,
      allowList: (request) =>
        !(request.routeOptions.config as PublicRouteConfig | undefined)?.rateLimited,
      max: config.tracking.rateLimitPerMinute,
      timeWindow: 60_000,
      keyGenerator: (request) => rateLimitKey(request.ip, request.socket.remoteAddress),
      errorResponseBuilder: (_request, context) => new RateLimitedError(context.after),
      ...sharedRateLimitStore(fastify, config.redisUrl),
    });
  }
  useContainer(nestProvidersFor(app), { fallback: true });
  setUpOpenApi(app);
}

/**
 * With REDIS_URL the per-client budget is counted in Redis, so it holds across replicas.
 * If Redis is unreachable the limit is skipped rather than refusing traffic (and it
 * says so in the log): losing tracking data is worse than a short unlimited window.
 * A Redis whose connection stays open but goes silent (a frozen server, a partition)
 * counts as unreachable once a command has waited 250 ms: without it every public
 * request would wait on it forever, and so would shutdown. After a second of silence the
 * connection is dropped and made again, so that commands stop piling up behind it and
 * requests skip the limit at once while Redis is away.
 */
const REDIS_COMMAND_TIMEOUT_MS = 250;
const REDIS_SOCKET_TIMEOUT_MS = 1_000;

function sharedRateLimitStore(fastify: FastifyInstance, redisUrl: string | undefined) {
  if (redisUrl === undefined) return {};
  const logger = new Logger('RateLimit');
  const redis = new Redis(redisUrl, {
    connectTimeout: 1_000,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    socketTimeout: REDIS_SOCKET_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  });
  redis.on('error', (error: Error) => logger.warn(`Redis for the rate limit: ${error.message}`));
  fastify.addHook('onClose', async () => {
    await redis.quit().catch(() => redis.disconnect());
  });
  return { redis, nameSpace: 'conversion-tracking:rate-limit:', skipOnError: true };
}

/**
 * Lets class-validator constraints receive injected configuration. Classes Nest does
 * not provide (class-validator's own) come from its default container; lookups are
 * cached because validation runs on every request.
 */
function nestProvidersFor(app: NestFastifyApplication): {
  get<T>(someClass: new (...args: never[]) => T): T | undefined;
} {
  const moduleRef = app.get(ModuleRef);
  const cache = new Map<unknown, unknown>();
  return {
    get<T>(someClass: new (...args: never[]) => T): T | undefined {
      if (!cache.has(someClass)) {
        try {
          cache.set(someClass, moduleRef.get(someClass, { strict: false }));
        } catch {
          cache.set(someClass, undefined);
        }
      }
      return cache.get(someClass) as T | undefined;
    },
  };
}

/** JSON as application/json and as text/plain, which is what navigator.sendBeacon sends. */
function registerJsonBodyParsers(fastify: FastifyInstance): void {
  const parser = depthLimitedJsonParser(fastify);
  for (const type of ['application/json', 'text/plain']) {
    fastify.removeContentTypeParser(type);
    fastify.addContentTypeParser(type, { parseAs: 'buffer' }, parser);
  }
}

function setUpOpenApi(app: NestFastifyApplication): void {
  // The UI's page links its assets as ./docs/…: served at /docs/ they would resolve under
  // /docs/docs/ and 404, so that address sends the browser to /docs instead (relative, so
  // that a proxy's path prefix stays, and with its query).
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRoute', (route) => {
      if (route.url === '/docs/')
        route.handler = (request, reply) =>
          reply.redirect(`../docs${request.url.slice('/docs/'.length)}`, 301);
    });
  const document = createOpenApiDocument(app);
  // The UI only: @nestjs/swagger serialises the raw documents again on every request (some
  // 10 ms of CPU for the YAML), an open door to starving the track path. The document is
  // fixed once the app is built, so each form is made once.
  SwaggerModule.setup('docs', app, document, { raw: false });
  const fastify = app.getHttpAdapter().getInstance();
  const json = JSON.stringify(document);
  const yaml = dump(document, { skipInvalid: true, noRefs: true });
  fastify.get('/openapi.json', (_request, reply) => reply.type('application/json').send(json));
  fastify.get('/openapi.yaml', (_request, reply) => reply.type('text/yaml').send(yaml));
}

/** The OpenAPI document, as served at /openapi.json and committed as openapi.json. */
function createOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(app, buildOpenApiConfig(), {
    // Handler names are verb-first and unique, so they serve as operationIds as they are.
    operationIdFactory: (_controllerKey: string, methodKey: string) => methodKey,
  });
  addDescriptionPaths(document);
  return refineOpenApiDocument(document);
}

export function buildOpenApiConfig() {
  return new DocumentBuilder()
    .setTitle('Conversion Tracking API')
    .setDescription(
      [
        'Records conversions with attribution, follows funnels, reports and reconciles with GA4.',
        '',
        'Besides the answers each operation lists, any request can get these, in the same error',
        'envelope with its X-Request-Id: 404 `not_found` (no such route), 405',
        '`method_not_allowed` (the route exists for other methods, named in `Allow`), 408',
        '`request_timeout`, 431 `headers_too_large` (headers or query string too large) and 400',
        '`malformed_request` (not valid HTTP). While the database cannot be reached at start,',
        'every path but `/health` and `/ready` (and the public endpoints’ preflights) answers 503',
        '`database_unavailable` with `Retry-After` until the service has started. `HEAD` is',
        'answered wherever `GET` is. This document is served at `/openapi.json` (and',
        '`/openapi.yaml`), Swagger UI at `/docs`.',
      ].join('\n'),
    )
    .setVersion('1.0.0')
    .addServer('/', 'The service this document was fetched from')
    .addTag(
      'tracking',
      'Public: browsers and back ends record events (CORS allow-list, rate limit)',
    )
    .addTag('funnel', 'Public funnel stage updates, and the funnel report (API key)')
    .addTag('reporting', 'Conversions with attribution by source, type and day (API key)')
    .addTag('reconciliation', 'Our event counts against GA4’s, on demand and scheduled (API key)')
    .addTag('operations', 'Liveness, readiness and Prometheus metrics for operators')
    .addTag(DESCRIPTION_TAG, 'This document, and Swagger UI over it')
    .addApiKey(
      { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'A key from API_KEYS' },
      API_KEY_SCHEME,
    )
    .addBearerAuth(
      // bearerFormat is left out: Nest's default says JWT, and the keys are opaque strings.
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: undefined,
        description: 'A key from API_KEYS',
      },
      BEARER_SCHEME,
    )
    .build();
}

const NEST_LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** LOG_LEVEL names the least severe level logged (`info` is Nest's `log`). */
export function nestLogLevels(config: AppConfig): LogLevel[] {
  const least = config.logLevel === 'info' ? 'log' : config.logLevel;
  return NEST_LOG_LEVELS.slice(0, NEST_LOG_LEVELS.indexOf(least) + 1);
}
