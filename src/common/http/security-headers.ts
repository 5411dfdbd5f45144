import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';

const OPTIONS: HelmetOptions = {
  contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  // tracker scripts and beacons are loaded cross-origin by design
  crossOriginResourcePolicy: { policy: 'cross-origin' },
};

/**
 * Helmet's security headers on every answer. Without nonces they do not depend on the
 * request, so helmet runs once here and each request only gets the resulting headers:
 * @fastify/helmet rebuilt helmet's middleware (and re-parsed the CSP) on every request,
 * 5.6% of the track path's CPU in a profile.
 */
export function registerSecurityHeaders(fastify: FastifyInstance): void {
  const headers = securityHeaders();
  fastify.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}

export function securityHeaders(options: HelmetOptions = OPTIONS): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  } as unknown as ServerResponse;
  let failure: unknown;
  helmet(options)({} as IncomingMessage, response, (error?: unknown) => (failure = error));
  if (failure !== undefined) throw new Error('helmet refused its options', { cause: failure });
  return headers;
}
