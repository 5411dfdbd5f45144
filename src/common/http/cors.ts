import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OriginNotAllowedError } from './domain-error';
import { createOriginMatcher } from './origin-matcher';
import { PublicRouteConfig } from './public-endpoint';

const ALLOW_METHODS = 'POST, OPTIONS';
const ALLOW_HEADERS = [
  'Content-Type',
  'Authorization',
  'X-Request-Id',
  'X-API-Key',
  'Accept',
  'Accept-Language',
  'Content-Language',
];
// What a page may read of an answer: when to retry, how much of its budget is left, and
// the id to quote in a report.
const EXPOSE_HEADERS =
  'Retry-After, X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset';
const PREFLIGHT_MAX_AGE_SECONDS = '86400';
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Where CORS headers go: a Fastify reply, or a plain response through `setHeader`. */
interface HeaderSink {
  header(name: string, value: string): unknown;
}

/** What CORS reads of a request: a Fastify request or Node's own. */
interface CorsRequest {
  method?: string;
  headers: IncomingHttpHeaders;
}

/**
 * Sets the CORS headers of a public endpoint's answer (a preflight's for OPTIONS);
 * false when the Origin is not allowed, which then gets none.
 */
export type PublicCors = (reply: HeaderSink, request: CorsRequest) => boolean;

/**
 * CORS for the public endpoints, as an allow-list: an allowed Origin is echoed with
 * credentials allowed (never `*`); any other Origin gets 403 before the body is read,
 * so nothing is stored. No Origin at all is a server-to-server call and is allowed.
 * Runs in onRequest, ahead of the rate limit, so even a 429 is readable by the page.
 * Returns the CORS it applies, for other answers on the public paths.
 */
export function registerPublicCors(
  fastify: FastifyInstance,
  allowedOrigins: readonly string[],
): PublicCors {
  const applyCors = publicCors(allowedOrigins);
  // A callback hook, not an async one: it runs on every request of the hot path.
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!isPublic(request)) return done();
    const allowed = applyCors(reply, request);
    if (allowed && request.method === 'OPTIONS') {
      // A preflight is answered here, before any body parser: what a client sends with
      // it (a Content-Type, even a body) is not part of the question it asks.
      void reply.code(200).send();
      return;
    }
    done(allowed ? undefined : new OriginNotAllowedError());
  });
  return applyCors;
}

/**
 * The public endpoints' CORS for `allowedOrigins` (CORS_ORIGINS). Shared with the
 * placeholder that answers while the database is away, so a page can read its 503.
 */
export function publicCors(allowedOrigins: readonly string[]): PublicCors {
  const isAllowed = createOriginMatcher(allowedOrigins);
  return (reply, { method, headers }) => {
    reply.header('Vary', 'Origin');
    const origin = requestOrigin(headers);
    if (origin === undefined) return true;
    if (!isAllowed(origin)) return false;
    reply.header('Access-Control-Allow-Origin', origin);
    reply.header('Access-Control-Allow-Credentials', 'true');
    if (method !== 'OPTIONS') {
      reply.header('Access-Control-Expose-Headers', EXPOSE_HEADERS);
      return true;
    }
    // The answer reflects the requested headers: a shared cache must key on them too.
    reply.header('Vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    reply.header('Access-Control-Allow-Methods', ALLOW_METHODS);
    reply.header('Access-Control-Allow-Headers', allowedHeaders(headers));
    reply.header('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_SECONDS);
    return true;
  };
}

/**
 * The request's Origin, if it names one. An empty header (no browser sends one; a proxy or
 * an HTTP library may) names no site, so it counts as none, as a server-to-server call.
 */
export function requestOrigin(headers: IncomingHttpHeaders): string | undefined {
  return headers.origin || undefined;
}

function isPublic(request: FastifyRequest): boolean {
  return (request.routeOptions.config as PublicRouteConfig | undefined)?.publicCors === true;
}

/**
 * The usual headers plus whatever else the page asks for: the origin is what is checked,
 * and a header a tracker adds (X-Requested-With, say) must not fail its preflight.
 */
function allowedHeaders(headers: IncomingHttpHeaders): string {
  const requested = String(headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => HEADER_NAME.test(name));
  const known = new Set(ALLOW_HEADERS.map((name) => name.toLowerCase()));
  const extra = requested.filter((name) => !known.has(name.toLowerCase()));
  return [...ALLOW_HEADERS, ...new Set(extra.map((name) => name.toLowerCase()))].join(', ');
}
