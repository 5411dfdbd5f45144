import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OriginNotAllowedError } from './domain-error';
import { createOriginMatcher } from './origin-matcher';
import { PublicRouteConfig } from './public-endpoint';

const ALLOW_METHODS = 'POST, OPTIONS';
const ALLOW_HEADERS =
  'Content-Type, Authorization, X-Request-Id, X-API-Key, Accept, Accept-Language, Content-Language';
const PREFLIGHT_MAX_AGE_SECONDS = '86400';

/**
 * CORS for the public endpoints, as an allow-list: an allowed Origin is echoed with
 * credentials allowed (never `*`); any other Origin gets 403 before the body is read,
 * so nothing is stored. No Origin at all is a server-to-server call and is allowed.
 * Runs in onRequest, ahead of the rate limit, so even a 429 is readable by the page.
 */
export function registerPublicCors(
  fastify: FastifyInstance,
  allowedOrigins: readonly string[],
): void {
  const isAllowed = createOriginMatcher(allowedOrigins);
  // A callback hook, not an async one: it runs on every request of the hot path.
  fastify.addHook('onRequest', (request, reply, done) => done(applyCors(request, reply)));

  function applyCors(request: FastifyRequest, reply: FastifyReply): Error | undefined {
    if (!(request.routeOptions.config as PublicRouteConfig | undefined)?.publicCors) return;
    reply.header('Vary', 'Origin');
    const origin = request.headers.origin;
    if (origin === undefined) return;
    if (!isAllowed(origin)) return new OriginNotAllowedError();
    reply.header('Access-Control-Allow-Origin', origin);
    reply.header('Access-Control-Allow-Credentials', 'true');
    if (request.method === 'OPTIONS') {
      reply.header('Access-Control-Allow-Methods', ALLOW_METHODS);
      reply.header('Access-Control-Allow-Headers', ALLOW_HEADERS);
      reply.header('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_SECONDS);
    }
  }
}
