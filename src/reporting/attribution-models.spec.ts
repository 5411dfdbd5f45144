import { describe, expect, it } from 'vitest';
import {
  ATTRIBUTION_MODELS,
  CREDIT_UNIT,
  TIME_DECAY_HALF_LIFE_MS,
  AttributionModel,
  apportion,
  creditSharesOf,
  modelWeights,
} from './attribution-models';
import { creditWindow } from './attribute-conversions';
import { toMicros } from './money';

const DAY = 86_400_000;
const conversion = 100 * DAY;
const creditShares = (model: AttributionModel, touchTimes: number[]) =>
  creditSharesOf(modelWeights(model, touchTimes));
const times = (...daysBefore: number[]) => daysBefore.map((d) => conversion - d * DAY);

describe('creditShares', () => {
  it('gives last_touch and first_touch all the credit to one touchpoint', () => {
    expect(creditShares('last_touch', times(10, 5, 1))).toEqual([0, 0, 1_000_000]);
    expect(creditShares('first_touch', times(10, 5, 1))).toEqual([1_000_000, 0, 0]);
  });

  it('splits linear credit evenly, an equal remainder to the later touchpoints', () => {
    expect(creditShares('linear', times(3, 2, 1))).toEqual([333_333, 333_333, 333_334]);
    expect(creditShares('linear', times(2, 1))).toEqual([500_000, 500_000]);
  });

  it('gives position_based exactly 40/20/40 with ten touchpoints, whose weights sum to 1 plus float noise', () => {
    expect(creditShares('position_based', times(10, 9, 8, 7, 6, 5, 4, 3, 2, 1))).toEqual([
      400_000, 25_000, 25_000, 25_000, 25_000, 25_000, 25_000, 25_000, 25_000, 400_000,
    ]);
  });

  it('gives position_based 40/20/40, 50/50 with two touchpoints and 100% with one', () => {
    expect(creditShares('position_based', times(4, 3, 2, 1))).toEqual([
      400_000, 100_000, 100_000, 400_000,
    ]);
    expect(creditShares('position_based', times(3, 2, 1))).toEqual([400_000, 200_000, 400_000]);
    expect(creditShares('position_based', times(5, 1))).toEqual([500_000, 500_000]);
    expect(creditShares('position_based', times(1))).toEqual([1_000_000]);
  });

  it('weighs time_decay by a 7-day half-life', () => {
    // Touchpoints 14, 7 and 0 days before: weights 1/4, 1/2, 1 → shares 1/7, 2/7, 4/7.
    expect(modelWeights('time_decay', times(14, 7, 0))).toEqual([2n ** 50n, 2n ** 51n, 2n ** 52n]);
    expect(creditShares('time_decay', times(14, 7, 0))).toEqual([142_857, 285_714, 571_429]);
    // Same day: equal weights.
    expect(creditShares('time_decay', [conversion - 1000, conversion - 1000])).toEqual([
      500_000, 500_000,
    ]);
    expect(TIME_DECAY_HALF_LIFE_MS).toBe(7 * DAY);
  });

  it('always sums to exactly one unit, for every model and any number of touchpoints', () => {
    for (const model of ATTRIBUTION_MODELS) {
      for (let n = 1; n <= 13; n++) {
        const touchTimes = Array.from({ length: n }, (_, i) => conversion - (n - i) * 0.37 * DAY);
        const shares = creditShares(model, touchTimes);
        expect(shares).toHaveLength(n);
        expect(shares.reduce((a, b) => a + b, 0)).toBe(CREDIT_UNIT);
        expect(shares.every((share) => share >= 0)).toBe(true);
      }
    }
  });

  it('weighs a subject with more touchpoints than a function call takes arguments', () => {
    const touchTimes = Array.from({ length: 200_000 }, (_, i) => conversion - (i + 1) * 1000);
    const shares = creditShares('time_decay', touchTimes);
    expect(shares.reduce((a, b) => a + b, 0)).toBe(CREDIT_UNIT);
  });

  it('gives no shares without touchpoints', () => {
    expect(creditShares('linear', [])).toEqual([]);
  });
});

describe('apportion', () => {
  it('shares an amount by weights into parts that add up to it, each within one unit of its exact share', () => {
    expect(apportion(toMicros('49.99'), [1n, 1n, 1n])).toEqual([
      16_663_333n,
      16_663_333n,
      16_663_334n,
    ]);
    expect(apportion(toMicros('0.01'), [1n, 1n, 1n])).toEqual([3_333n, 3_333n, 3_334n]);
    expect(apportion(10n, [1n, 1n, 0n])).toEqual([5n, 5n, 0n]);
    expect(apportion(7n, [1n, 1n, 0n])).toEqual([3n, 4n, 0n]);
    expect(apportion(0n, [1n, 1n])).toEqual([0n, 0n]);
    expect(apportion(toMicros('7'), [1n])).toEqual([7_000_000n]);
    expect(apportion(5n, [0n, 0n])).toEqual([]);
    // The unit left over goes to the largest remainder (6.67 → 7), not to the last part.
    expect(apportion(10n, [2n, 1n])).toEqual([7n, 3n]);
    expect(apportion(10n, [2n, 1n, 0n])).toEqual([7n, 3n, 0n]);
  });

  it('keeps position_based at 40/20/40 exactly, the middle units going to the later touchpoints', () => {
    const touchTimes = [5, 4, 3, 2, 1].map((days) => conversion - days * DAY);
    expect(creditShares('position_based', touchTimes)).toEqual([
      400_000, 66_666, 66_667, 66_667, 400_000,
    ]);
  });
});

describe('creditWindow', () => {
  const touch = (source: string, daysBefore: number) => ({
    source,
    medium: 'cpc',
    campaign: null,
    occurredAt: conversion - daysBefore * DAY,
  });
  const valueParts = (model: Parameters<typeof creditWindow>[1], value: string, n: number) =>
    creditWindow(
      Array.from({ length: n }, (_, i) => touch(`s${i}`, n - i)),
      model,
      toMicros(value),
    ).map((credit) => credit.micros);

  it('splits a value by the model, not by shares rounded to millionths', () => {
    // By the rounded shares (333,333 millionths each), the first two would get 299,999,700.
    expect(valueParts('linear', '900000000', 3)).toEqual([
      300_000_000_000_000n,
      300_000_000_000_000n,
      300_000_000_000_000n,
    ]);
    expect(valueParts('linear', '50', 3)).toEqual([16_666_666n, 16_666_667n, 16_666_667n]);
    expect(valueParts('position_based', '1000000000', 7)).toEqual([
      400_000_000_000_000n,
      ...Array.from({ length: 5 }, () => 40_000_000_000_000n),
      400_000_000_000_000n,
    ]);
  });

  it('splits a value by time decay within a millionth of its exact proportions, old touchpoints too', () => {
    // 89 and 88 days old: weights 2^(-89/7) and 2^(-88/7), so the first has 1 / (1 + 2^(1/7)).
    const [first, second] = creditWindow(
      [touch('newsletter', 89), touch('facebook', 88)],
      'time_decay',
      toMicros('1000000000'),
    ).map((credit) => Number(credit.micros));
    const exact = 1e15 / (1 + 2 ** (1 / 7));
    expect(Math.abs(first - exact)).toBeLessThanOrEqual(1);
    expect(first + second).toBe(1e15);
  });

  it('keeps the shares and the value of a conversion whole, for every model', () => {
    for (const model of ATTRIBUTION_MODELS) {
      const credits = creditWindow(
        [touch('a', 20), touch('b', 3.3), touch('c', 1), touch('d', 0)],
        model,
        toMicros('123456.789'),
      );
      expect(credits.reduce((sum, credit) => sum + credit.share, 0)).toBe(CREDIT_UNIT);
      expect(credits.reduce((sum, credit) => sum + credit.micros, 0n)).toBe(123_456_789_000n);
    }
  });
});
