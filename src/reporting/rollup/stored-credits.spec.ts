import { describe, expect, it } from 'vitest';
import { Conversion } from '../attribute-conversions';
import { DAY, NOW, aConversion } from '../../../test/support/a-conversion';
import { creditTuples } from './conversion-credits';
import { packCredits, unpackCredits } from './stored-credits';

/** A 49.99 EUR purchase with one google/cpc/bf touchpoint the day before. */
const conversion = (overrides: Partial<Conversion> = {}) =>
  aConversion({
    value: '49.99',
    touchpoints: [{ source: 'google', medium: 'cpc', campaign: 'bf', occurredAt: NOW - DAY }],
    ...overrides,
  });

const sorted = (tuples: unknown[]) => tuples.map((tuple) => JSON.stringify(tuple)).sort();

describe('packCredits / unpackCredits', () => {
  it('keeps one touchpoint credited alike by every model as one entry', () => {
    const tuples = creditTuples(conversion());
    const packed = packCredits(tuples);
    expect(packed).toEqual({
      d: '2026-11-20',
      t: 'purchase',
      c: 'EUR',
      k: [[0b11111, 'google', 'cpc', 'bf', 1_000_000, '49990000']],
    });
    expect(sorted(unpackCredits(packed))).toEqual(sorted(tuples));
  });

  it('gives back every model tuple of many touchpoints, null campaign and currency included', () => {
    const tuples = creditTuples(
      conversion({
        value: null,
        currency: null,
        touchpoints: [
          { source: 'google', medium: 'cpc', campaign: 'bf', occurredAt: NOW - 9 * DAY },
          { source: 'newsletter', medium: 'email', campaign: null, occurredAt: NOW - 3 * DAY },
          { source: 'bing', medium: 'cpc', campaign: 'x', occurredAt: NOW - DAY },
        ],
      }),
    );
    expect(tuples.length).toBeGreaterThan(5);
    const stored = JSON.parse(JSON.stringify(packCredits(tuples)));
    expect(sorted(unpackCredits(stored))).toEqual(sorted(tuples));
    expect(JSON.stringify(stored).length).toBeLessThan(JSON.stringify(tuples).length * 0.6);
  });

  it('keeps no credit as no credit', () => {
    expect(unpackCredits(packCredits([]))).toEqual([]);
  });

  it('refuses tuples of different conversions', () => {
    const tuples = creditTuples(conversion());
    tuples[1] = [...tuples[1]];
    tuples[1][1] = '2026-11-21';
    expect(() => packCredits(tuples)).toThrow(/share its day/);
  });
});
