import { ValidationPipe } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { useContainer, validate } from 'class-validator';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/app-config';
import { EventTimeWindowConstraint } from '../../common/validation/event-time-window.constraint';
import { fastTransform } from '../../common/validation/fast-check';
import { VALIDATOR_OPTIONS, validationFailed } from '../../common/validation/validation-errors';
import { TrackEventDto } from './track-event.dto';
import { isPlainlyValidTrackEvent } from './track-event.fast-check';

const config = loadConfig({ TRACK_MAX_EVENT_AGE_HOURS: '72' });
const HOUR_MS = 3_600_000;

async function fullValidation(body: Record<string, unknown>) {
  const dto = plainToInstance(TrackEventDto, body);
  return { dto, errors: await validate(dto, VALIDATOR_OPTIONS) };
}

/** What the global pipe did before any fast check: Nest's pipe, which also strips keys. */
const nestPipe = new ValidationPipe({
  ...VALIDATOR_OPTIONS,
  transform: true,
  exceptionFactory: validationFailed,
});
function nestValidation(body: Record<string, unknown>): Promise<unknown> {
  return nestPipe.transform(structuredClone(body), { type: 'body', metatype: TrackEventDto });
}

/** Lengths around each limit the DTO sets. */
const anyLength = fc.constantFrom(0, 1, 2, 39, 40, 41, 127, 128, 129, 255, 256, 257, 511, 512, 513);
const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.constantFrom(
    '',
    '\u0000',
    'a\u0000',
    '\ud800',
    'x\udfffy',
    '\ufe0f',
    'a\ufe0f',
    '\u007f',
    '\u0085',
    '😀',
    'purchase',
    'page_view',
    '9x',
    'a-b',
  ),
  fc
    .tuple(fc.constantFrom('a', 'é', '😀', '\ufe0f', '\u0001'), anyLength)
    .map(([c, n]) => c.repeat(n)),
);
const url = fc.oneof(
  fc.webUrl(),
  fc.constantFrom(
    'https://shop.example.com/?utm_source=google',
    'ftp://x.example',
    'http://',
    'https://a',
    'javascript:alert(1)',
    'https://xn--e1afmkfd.xn--p1ai/',
    `https://a.example/${'p'.repeat(2040)}`,
  ),
  text,
);
/**
 * Whole hours from now, plus half an hour: inside and outside the accepted window (72 h
 * back, 5 min ahead), but never within minutes of its edges, where the fast check and
 * the full validation, run a few milliseconds apart, could rightly disagree.
 */
const hoursFromNow = fc
  .integer({ min: -80, max: 1 })
  .map((hours) => new Date(Date.now() + (hours + 0.5) * HOUR_MS).toISOString());
const instant = fc.oneof(
  hoursFromNow,
  fc.constantFrom(
    '2026-02-30T10:00:00Z',
    '2026-11-26 10:00:00Z',
    '2026-11-26T10:00:00',
    '2026-11-26T25:00:00Z',
    '2026-11-26T10:00:00+01',
    '2026-11-26T10:00:00.123456789+05:30',
  ),
  hoursFromNow.map((time) => time.replace('Z', '+00:00')),
  text,
);
/** Keys Nest's pipe deletes at any depth (`__proto__` only reaches it when a parser allows it). */
const strippedKey = fc.constantFrom('constructor', 'prototype', '__proto__');
const withStrippedKey = fc
  .tuple(fc.jsonValue({ maxDepth: 3 }), strippedKey, fc.jsonValue({ maxDepth: 2 }))
  .map(([value, key, inner]) =>
    JSON.parse(`{"a":[${JSON.stringify(value)},{"${key}":${JSON.stringify(inner)}}]}`),
  );
const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 7 }),
  text,
  fc.constantFrom(null, -1, -0, 0, 1.5, 1e308, [], {}),
);
const fieldValue: Record<string, fc.Arbitrary<unknown>> = {
  event_type: fc.oneof(
    fc.constantFrom('purchase', 'sign_up', 'a', 'A'.repeat(40), 'A'.repeat(41)),
    text,
    jsonish,
  ),
  event_id: fc.oneof(fc.uuid(), text, jsonish),
  visitor_id: fc.oneof(fc.constant('v_1'), text, jsonish),
  user_id: fc.oneof(fc.constant('u_1'), text, jsonish),
  session_id: fc.oneof(text, jsonish),
  occurred_at: fc.oneof(instant, jsonish),
  utm_source: fc.oneof(text, jsonish),
  utm_medium: text,
  utm_campaign: text,
  utm_term: text,
  utm_content: text,
  gclid: text,
  fbclid: text,
  msclkid: text,
  page_url: fc.oneof(url, jsonish),
  referrer: url,
  value: fc.oneof(
    fc.double({ noNaN: true }),
    fc.integer(),
    fc.constantFrom(1e15, 1e15 + 0.5, 1e16),
    jsonish,
  ),
  currency: fc.oneof(fc.constantFrom('EUR', 'usd', 'EURO', 'E1R'), text, jsonish),
  properties: fc.oneof(
    fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 6 })),
    fc.dictionary(
      fc.oneof(fc.string({ maxLength: 5 }), strippedKey),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    withStrippedKey,
    jsonish,
  ),
  extra: jsonish,
  __proto__: jsonish,
  constructor: jsonish,
};
const aValidEvent = (): Record<string, unknown> => ({
  event_type: 'purchase',
  event_id: 'e-1',
  visitor_id: 'v_1',
  occurred_at: new Date(Date.now() - HOUR_MS).toISOString(),
  page_url: 'https://shop.example.com/checkout?utm_source=google&utm_medium=cpc',
  referrer: 'https://www.google.com/',
  value: 129.9,
  currency: 'EUR',
  properties: { order_id: 'A10042', items: 3, first_order: true },
});
/** A valid event with some fields replaced, added or deleted; as JSON would deliver it. */
const body = fc
  .tuple(
    fc.dictionary(fc.constantFrom(...Object.keys(fieldValue)), fc.constant(null), { maxKeys: 4 }),
    fc.array(fc.constantFrom(...Object.keys(aValidEvent())), { maxLength: 3 }),
  )
  .chain(([replaced, deleted]) =>
    fc
      .record(Object.fromEntries(Object.keys(replaced).map((key) => [key, fieldValue[key]])))
      .map((values) => {
        const event = aValidEvent();
        for (const key of deleted) delete event[key];
        return JSON.parse(JSON.stringify({ ...event, ...values })) as Record<string, unknown>;
      }),
  );

describe('the track body fast check', () => {
  beforeAll(() => {
    const constraint = new EventTimeWindowConstraint(config);
    useContainer(
      {
        get: (type: unknown) => (type === EventTimeWindowConstraint ? constraint : undefined),
      },
      { fallback: true },
    );
  });

  it('accepts only what the full validation accepts, and builds the same DTO', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(body, async (input) => {
        const fast = fastTransform(TrackEventDto, input, config);
        if (fast === undefined) return;
        accepted++;
        const { dto, errors } = await fullValidation(input);
        expect(errors).toEqual([]);
        expect(fast).toStrictEqual(dto);
        expect(fast).toStrictEqual(await nestValidation(input));
      }),
      { numRuns: 4_000 },
    );
    // Not vacuous: a fair share of the generated bodies took the fast path.
    expect(accepted).toBeGreaterThan(400);
  });

  it('accepts the ordinary events a tracker sends', () => {
    expect(isPlainlyValidTrackEvent(aValidEvent(), config)).toBe(true);
    expect(isPlainlyValidTrackEvent({ event_type: 'page_view', user_id: 'u_1' }, config)).toBe(
      true,
    );
  });

  it('leaves keys that Nest strips to the full validation', () => {
    const event = { ...aValidEvent(), properties: { items: [{ constructor: 'x' }] } };
    expect(isPlainlyValidTrackEvent(event, config)).toBe(true);
    expect(fastTransform(TrackEventDto, event, config)).toBeUndefined();
  });
});
