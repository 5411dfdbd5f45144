import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { useAppFixture } from './support/app-fixture';
import { anEvent } from './support/event-factory';

const ORIGIN = 'https://shop.example.com';
const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);

/** Values that have broken JSON services before. */
const nasty = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfffy',
    '__proto__',
    'constructor',
    '',
    ' ',
    '💥'.repeat(300),
    'x'.repeat(70_000),
    '1e309',
    '-0',
    'null',
    '<script>alert(1)</script>',
    "' OR 1=1 --",
  ),
  fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, 1e308, -1e308, 5e-324, -0, 0.1 + 0.2, 2 ** 64),
  fc.constantFrom(null, true, false, [], {}, [[[[[]]]]]),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.double(),
  fc.integer(),
);

/** Deep nesting, as a string: JSON.stringify would do it, but this keeps the depth exact. */
const deeplyNested = fc
  .integer({ min: 50, max: 5_000 })
  .map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);

/** A valid event with one field replaced, removed, or a prototype-pollution key added. */
const mutatedEvent = fc
  .tuple(
    fc.constantFrom(...Object.keys(anEvent()), '__proto__', 'constructor', 'prototype', 'extra'),
    nasty,
    fc.constantFrom('replace', 'delete', 'nest'),
  )
  .map(([field, value, how]) => {
    const event = anEvent();
    if (how === 'delete') delete event[field];
    else if (how === 'nest') event.properties = { [field]: value, nested: { [field]: value } };
    else event[field] = value;
    return JSON.stringify(event).replace('"__proto__"', '"__proto__"');
  });

/** Raw bodies: random JSON, mutated events, truncated or duplicate-keyed JSON, plain garbage. */
const rawBody = fc.oneof(
  fc.jsonValue().map((value) => JSON.stringify(value)),
  mutatedEvent,
  mutatedEvent.map((text) => text.slice(0, Math.max(1, Math.floor(text.length / 2)))),
  fc.constant('{"event_type":"purchase","event_type":{"a":1},"visitor_id":"v","visitor_id":null}'),
  fc.constant('{"__proto__":{"isAdmin":true},"event_type":"purchase","visitor_id":"v"}'),
  deeplyNested,
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'text/plain;charset=UTF-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  '',
);

describe('fuzzing the public endpoints (fast-check)', () => {
  const fixture = useAppFixture({ RATE_LIMIT_PER_MINUTE: '0', TRACK_MAX_BODY_BYTES: '65536' });
  let inject: (options: {
    method: 'POST' | 'OPTIONS';
    url: string;
    headers: Record<string, string>;
    payload?: string;
  }) => Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }>;
  /** Events the service said it stored: the table must hold exactly these many. */
  let acknowledged = 0;
  let sent = 0;

  beforeAll(async () => {
    await fixture.reset();
    const fastify = fixture.app.getHttpAdapter().getInstance();
    inject = async (options) => {
      const reply = await fastify.inject(options);
      return { statusCode: reply.statusCode, headers: reply.headers, body: reply.body };
    };
  });

  const checkAnswer = (reply: {
    statusCode: number;
    headers: Record<string, unknown>;
    body: string;
  }) => {
    sent++;
    expect(reply.statusCode, reply.body).toBeLessThan(500);
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    if (reply.statusCode >= 400) {
      const body = JSON.parse(reply.body) as {
        success: boolean;
        error: { code: string; message: string };
      };
      expect(body.success).toBe(false);
      expect(typeof body.error.code).toBe('string');
      // No stack traces or internals in what a client sees.
      expect(reply.body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
    }
  };

  it.each(['/v1/events/track', '/v1/events/funnel'])(
    'POST %s: never a 5xx, errors in the envelope, stores only what it acknowledges',
    async (url) => {
      await fc.assert(
        fc.asyncProperty(rawBody, contentType, fc.boolean(), async (payload, type, withOrigin) => {
          const reply = await inject({
            method: 'POST',
            url,
            headers: {
              ...(type ? { 'content-type': type } : {}),
              ...(withOrigin ? { origin: ORIGIN } : {}),
            },
            payload,
          });
          checkAnswer(reply);
          if (url === '/v1/events/track' && reply.statusCode === 200) {
            const body = JSON.parse(reply.body) as { duplicate: boolean };
            if (!body.duplicate) acknowledged++;
          }
        }),
        { numRuns: RUNS },
      );
    },
    120_000,
  );

  it('POST /v1/events/track/batch: per-event outcomes, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(rawBody, fc.constant(JSON.stringify(anEvent()))), { maxLength: 8 }),
        async (items) => {
          const payload = `{"events":[${items.map((item) => (item.startsWith('{') ? item : JSON.stringify(item))).join(',')}]}`;
          const reply = await inject({
            method: 'POST',
            url: '/v1/events/track/batch',
            headers: { 'content-type': 'application/json' },
            payload,
          });
          checkAnswer(reply);
          if (reply.statusCode === 200) {
            const body = JSON.parse(reply.body) as {
              results: { success: boolean; duplicate: boolean }[];
            };
            acknowledged += body.results.filter((r) => r.success && !r.duplicate).length;
          }
        },
      ),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  }, 120_000);

  it('OPTIONS preflights with random origins and headers: never a 5xx, never a wildcard', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(
            ORIGIN,
            'https://SHOP.example.com',
            'https://shop.example.com.evil.com',
            'null',
            'https://a.b.example.org',
          ),
          fc.webUrl().map((u) => new URL(u).origin),
          fc.string({ maxLength: 60 }),
        ),
        fc.string({ maxLength: 60 }),
        async (origin, requested) => {
          const reply = await inject({
            method: 'OPTIONS',
            url: '/v1/events/track',
            headers: {
              origin,
              'access-control-request-method': 'POST',
              'access-control-request-headers': requested,
            },
          }).catch((error: Error) => {
            // Header values Node itself refuses to send never reach the service.
            if (/Invalid character|header/i.test(error.message)) return undefined;
            throw error;
          });
          if (!reply) return;
          checkAnswer(reply);
          expect(reply.headers['access-control-allow-origin']).not.toBe('*');
          // An allowed origin is echoed exactly (CORS_ORIGINS here: the shop and *.example.org).
          const allowed = reply.headers['access-control-allow-origin'];
          if (allowed !== undefined) {
            expect(allowed).toBe(origin);
            expect(
              origin === ORIGIN || /^https:\/\/([a-z0-9-]+\.)+example\.org$/.test(origin),
            ).toBe(true);
          }
        },
      ),
      { numRuns: RUNS },
    );
  }, 120_000);

  it('stored exactly the events it acknowledged', async () => {
    const { rows } = await fixture.db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM events',
    );
    expect(rows[0].n).toBe(acknowledged);
    expect(sent).toBeGreaterThan(RUNS * 3);
    console.log(`fuzz: ${sent} requests, ${acknowledged} events stored, 0 server errors`);
  });
});
