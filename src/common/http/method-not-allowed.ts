import type { FastifyInstance, HTTPMethods } from 'fastify';
import type { PublicCors } from './cors';
import { mapError } from './error-mapping';
import { MethodNotAllowedError } from './domain-error';
import type { PublicRouteConfig } from './public-endpoint';

interface KnownPath {
  pattern: RegExp;
  methods: Set<string>;
  /** A public endpoint's path: a page must be able to read its 405 too. */
  publicCors: boolean;
}

/** `/v1/funnels/:funnel` → a regex for the paths it serves; `*` is the rest of the path. */
function patternOf(url: string): RegExp {
  const escaped = url
    .split(/(:[A-Za-z0-9_]+|\*)/)
    .map((part) =>
      part === '*'
        ? '.*'
        : part.startsWith(':')
          ? '[^/]+'
          : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${escaped}$`);
}

/**
 * A path the service serves, asked with a method it does not serve there, is answered 405
 * with `Allow` (RFC 9110), in the error envelope, rather than 404 as if the path did not
 * exist. Routes are learnt as they are registered, so the list never drifts from them.
 * On a public endpoint's path an allowed Origin gets its CORS headers, as on every other
 * answer there.
 */
export function registerMethodNotAllowed(fastify: FastifyInstance, publicCors: PublicCors): void {
  const known = new Map<string, KnownPath>();
  fastify.addHook('onRoute', (route) => {
    const entry = known.get(route.url) ?? {
      pattern: patternOf(route.url),
      methods: new Set(),
      publicCors: false,
    };
    for (const method of ([] as HTTPMethods[]).concat(route.method)) entry.methods.add(method);
    entry.publicCors ||= (route.config as PublicRouteConfig | undefined)?.publicCors === true;
    known.set(route.url, entry);
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!request.is404) return done();
    const path = request.url.split('?', 1)[0];
    const allowed = new Set<string>();
    let isPublic = false;
    for (const entry of known.values()) {
      if (!entry.pattern.test(path)) continue;
      entry.methods.forEach((method) => allowed.add(method));
      isPublic ||= entry.publicCors;
    }
    if (allowed.size === 0) return done();
    if (isPublic) publicCors(reply, request);
    const methods = [...allowed].sort().join(', ');
    const mapped = mapError(
      new MethodNotAllowedError(
        `${request.method} is not served at this path; it serves ${methods}`,
      ),
      String(request.id),
    );
    void reply.code(mapped.status).header('Allow', methods).send(mapped.body);
  });
}
