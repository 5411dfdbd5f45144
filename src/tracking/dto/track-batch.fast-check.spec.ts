import { ValidationPipe } from '@nestjs/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastTransform, strippedKeyPath } from '../../common/validation/fast-check';
import { VALIDATOR_OPTIONS, validationFailed } from '../../common/validation/validation-errors';
import { loadConfig } from '../../config/app-config';
import { MAX_BATCH_EVENTS, TrackBatchDto } from './track-batch.dto';

const config = loadConfig({});

/** What the global pipe did before any fast check: Nest's pipe, which also strips keys. */
const nestPipe = new ValidationPipe({
  ...VALIDATOR_OPTIONS,
  transform: true,
  exceptionFactory: validationFailed,
});

const anEvent = { event_type: 'page_view', visitor_id: 'v_1', properties: { a: [1, { b: 2 }] } };
const item = fc.oneof(
  { weight: 4, arbitrary: fc.constant(anEvent) },
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, [], {}, [anEvent], 'x', 0),
  fc.constantFrom('constructor', 'prototype', '__proto__').map((key) => ({ ...anEvent, [key]: 1 })),
  fc
    .constantFrom('constructor', 'prototype', '__proto__')
    .map((key) => ({ ...anEvent, properties: { nested: [{ [key]: {} }] } })),
);
/** 0–3 items, or a count at the limits; some of them replaced. */
const events = fc
  .tuple(
    fc.oneof(
      fc.nat(3),
      fc.constantFrom(MAX_BATCH_EVENTS - 1, MAX_BATCH_EVENTS, MAX_BATCH_EVENTS + 1),
    ),
    fc.array(fc.tuple(fc.nat(MAX_BATCH_EVENTS), item), { maxLength: 3 }),
  )
  .map(([count, replaced]) => {
    const list: unknown[] = Array.from({ length: count }, () => anEvent);
    for (const [index, value] of replaced) if (index < count) list[index] = value;
    return list;
  });
const envelope = fc
  .tuple(
    fc.oneof({ weight: 4, arbitrary: events }, fc.jsonValue({ maxDepth: 2 })),
    fc.dictionary(
      fc.constantFrom('extra', 'constructor', 'prototype', '__proto__', 'Events'),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 2 },
    ),
    fc.boolean(),
  )
  .map(
    ([list, extra, withExtra]) =>
      // As a JSON parser delivers it: `__proto__` as an own key.
      JSON.parse(JSON.stringify({ events: list, ...(withExtra ? extra : {}) })) as Record<
        string,
        unknown
      >,
  );

describe('the track batch envelope fast check', () => {
  it('accepts only what the full validation accepts, and builds the same DTO', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(envelope, async (input) => {
        const fast = fastTransform(TrackBatchDto, input, config);
        if (fast === undefined) return;
        accepted++;
        const full = await nestPipe.transform(structuredClone(input), {
          type: 'body',
          metatype: TrackBatchDto,
        });
        // The events as sent: the service validates each one, and refuses on its own one that
        // holds a key Nest would have stripped (so it is not stored with less than was sent).
        expect(fast.events).toBe(input.events);
        if (strippedKeyPath(input) === undefined) expect(fast).toStrictEqual(full);
        else expect(full).toBeInstanceOf(TrackBatchDto);
      }),
      { numRuns: 1_500 },
    );
    expect(accepted).toBeGreaterThan(150);
  });
});
