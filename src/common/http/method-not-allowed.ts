import type { FastifyInstance, HTTPMethods } from 'fastify';
import { mapError } from './error-mapping';
import { MethodNotAllowedError } from './domain-error';

interface KnownPath {
  pattern: RegExp;
  methods: Set<string>;
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
 */
export function registerMethodNotAllowed(fastify: FastifyInstance): void {
  const known = new Map<string, KnownPath>();
  fastify.addHook('onRoute', (route) => {
    const entry = known.get(route.url) ?? { pattern: patternOf(route.url), methods: new Set() };
    for (const method of ([] as HTTPMethods[]).concat(route.method)) entry.methods.add(method);
    known.set(route.url, entry);
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!request.is404) return done();
    const path = request.url.split('?', 1)[0];
    const allowed = new Set<string>();
    for (const entry of known.values()) {
      if (entry.pattern.test(path)) entry.methods.forEach((method) => allowed.add(method));
    }
    if (allowed.size === 0) return done();
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
