import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { AppConfig } from './config/app-config';
import { isUnreachable } from './common/http/database-errors';
import { PublicCors, publicCors } from './common/http/cors';
import {
  DatabaseUnavailableError,
  NotReadyError,
  OriginNotAllowedError,
} from './common/http/domain-error';
import { MappedError, mapError } from './common/http/error-mapping';
import { PUBLIC_PATHS } from './common/http/public-endpoint';
import { generateRequestId } from './common/http/request-id';
import { rootCause } from './common/sql-state';
import { ResolvedDatabase, resolveDatabase } from './persistence/database-location';
import { Shutdown } from './shutdown';

const FIRST_RETRY_MS = 1_000;
const LONGEST_RETRY_MS = 10_000;
const CHECKPOINT_MS = 250;
export interface ReachableDatabase extends ResolvedDatabase {
  /**
   * Frees the port for the service: the placeholder, if the wait needed one, answers
   * until then, so that callers meet a 503 with Retry-After rather than a refused
   * connection while the service starts.
   */
  handOver(): Promise<void>;
}

/**
 * DATABASE_URL's server unreachable at start (restarting, failing over, a network not up
 * yet in a deploy): rather than exit and be restarted in a loop, the process listens at
 * once with what needs no database (`/health` 200; `/ready` 503 `not_ready`, everything
 * else 503 `database_unavailable`, with Retry-After) and tries again, up to every 10 s, until it can
 * start for real. A database that answers but refuses the service (no such database, a
 * wrong password) still stops the start: that is a setting to correct.
 */
export async function resolveDatabaseWhenReachable(
  config: AppConfig,
  shutdown: Shutdown,
): Promise<ReachableDatabase> {
  const logger = new Logger('Database');
  let placeholder: Server | undefined;
  const closePlaceholder = async () => {
    const server = placeholder;
    placeholder = undefined;
    if (!server) return;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections(); // every answer closes its connection; none is worth a wait
    await closed;
  };
  shutdown.onStop(closePlaceholder);
  const state: PlaceholderState = { databaseReached: false };
  for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, LONGEST_RETRY_MS)) {
    try {
      const database = await resolveDatabase(config.database);
      // Until the hand-over (migrations, modules starting) the placeholder says so.
      state.databaseReached = true;
      return { ...database, handOver: closePlaceholder };
    } catch (error) {
      if (config.database.url === undefined || !isUnreachable(error)) {
        await closePlaceholder();
        throw error;
      }
      logger.warn(
        `PostgreSQL (DATABASE_URL) is unreachable: ${rootCause(error as Error).message}; /ready answers 503 meanwhile, next try in ${delay / 1_000} s`,
      );
      placeholder ??= await listenMeanwhile(config, state);
      for (let waited = 0; waited < delay; waited += CHECKPOINT_MS) {
        await sleep(CHECKPOINT_MS);
        await shutdown.checkpoint();
      }
    }
  }
}

interface PlaceholderState {
  databaseReached: boolean;
}

async function listenMeanwhile({ http }: AppConfig, state: PlaceholderState): Promise<Server> {
  const placeholder: Placeholder = { state, applyCors: publicCors(http.corsOrigins) };
  const handler = (request: IncomingMessage, response: ServerResponse) =>
    answerMeanwhile(request, response, placeholder);
  const server = createServer(handler);
  // As the service: an Expect it cannot meet is ignored, not answered with Node's bare 417.
  server.on('checkExpectation', handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(http.port, http.host, () => resolve());
  }).catch((error: unknown) => {
    throw new Error(`Cannot listen on ${http.host}:${http.port} (HOST, PORT): ${String(error)}`);
  });
  return server;
}

interface Placeholder {
  state: PlaceholderState;
  applyCors: PublicCors;
}

function answerMeanwhile(
  request: IncomingMessage,
  response: ServerResponse,
  { state: { databaseReached }, applyCors }: Placeholder,
): void {
  const requestId = generateRequestId(request);
  response.setHeader('X-Request-Id', requestId);
  response.setHeader('Cache-Control', 'no-store');
  // Nothing is kept for a next request: the real service takes the port over.
  response.setHeader('Connection', 'close');
  const path = request.url?.split('?')[0] ?? '';
  if (path === '/health' && ['GET', 'HEAD'].includes(request.method ?? '')) {
    response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify({ status: 'ok' }));
    return;
  }
  // The public endpoints' CORS as the service applies it, so that a page can read the
  // 503 and its Retry-After (a preflight it could not pass would hide them).
  if (PUBLIC_PATHS.has(path) && ['POST', 'OPTIONS'].includes(request.method ?? '')) {
    const allowed = applyCors(
      { header: (name, value) => response.setHeader(name, value) },
      request,
    );
    if (allowed && request.method === 'OPTIONS') {
      response.writeHead(200, { 'Content-Length': '0' }).end();
      return;
    }
    if (!allowed) return answerWith(response, mapError(new OriginNotAllowedError(), requestId));
  }
  // /ready answers as the service's own does when its database is away.
  const mapped = mapError(
    path === '/ready'
      ? new NotReadyError([
          databaseReached
            ? { field: 'service', message: 'starting: the database is reachable' }
            : { field: 'database', message: 'unreachable' },
        ])
      : new DatabaseUnavailableError(
          databaseReached
            ? 'the service is starting: its database is reachable again'
            : 'not reachable since the service started',
        ),
    requestId,
  );
  answerWith(response, mapped);
}

function answerWith(response: ServerResponse, { status, body, retryAfterSeconds }: MappedError) {
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  if (retryAfterSeconds !== undefined) response.setHeader('Retry-After', String(retryAfterSeconds));
  response.writeHead(status).end(JSON.stringify(body));
}
