import { describe, expect, it } from 'vitest';
import {
  CREDIT_UNIT,
  TIME_DECAY_HALF_LIFE_MS,
  creditShares,
  modelWeights,
} from './attribution-models';

const DAY = 86_400_000;
const conversion = 100 * DAY;
const times = (...daysBefore: number[]) => daysBefore.map((d) => conversion - d * DAY);

describe('creditShares', () => {
  it('gives last_touch and first_touch all the credit to one touchpoint', () => {
    expect(creditShares('last_touch', times(10, 5, 1), conversion)).toEqual([0, 0, 1_000_000]);
    expect(creditShares('first_touch', times(10, 5, 1), conversion)).toEqual([1_000_000, 0, 0]);
  });

  it('splits linear credit evenly, the remainder to the last touchpoint', () => {
    expect(creditShares('linear', times(3, 2, 1), conversion)).toEqual([333_333, 333_333, 333_334]);
    expect(creditShares('linear', times(2, 1), conversion)).toEqual([500_000, 500_000]);
  });

  it('gives position_based exactly 40/20/40 with ten touchpoints, whose weights sum to 1 plus float noise', () => {
    expect(
      creditShares('position_based', times(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), conversion),
    ).toEqual([400_000, 25_000, 25_000, 25_000, 25_000, 25_000, 25_000, 25_000, 25_000, 400_000]);
  });

  it('gives position_based 40/20/40, 50/50 with two touchpoints and 100% with one', () => {
    expect(creditShares('position_based', times(4, 3, 2, 1), conversion)).toEqual([
      400_000, 100_000, 100_000, 400_000,
    ]);
    expect(creditShares('position_based', times(3, 2, 1), conversion)).toEqual([
      400_000, 200_000, 400_000,
    ]);
    expect(creditShares('position_based', times(5, 1), conversion)).toEqual([500_000, 500_000]);
    expect(creditShares('position_based', times(1), conversion)).toEqual([1_000_000]);
  });

  it('weighs time_decay by a 7-day half-life', () => {
    // Touchpoints 14, 7 and 0 days before: weights 1/4, 1/2, 1 → shares 1/7, 2/7, 4/7.
    expect(modelWeights('time_decay', times(14, 7, 0), conversion)).toEqual([0.25, 0.5, 1]);
    expect(creditShares('time_decay', times(14, 7, 0), conversion)).toEqual([
      142_857, 285_714, 571_429,
    ]);
    // Same day: equal weights.
    expect(creditShares('time_decay', [conversion - 1000, conversion - 1000], conversion)).toEqual([
      500_000, 500_000,
    ]);
    expect(TIME_DECAY_HALF_LIFE_MS).toBe(7 * DAY);
  });

  it('always sums to exactly one unit, for every model and any number of touchpoints', () => {
    for (const model of [
      'last_touch',
      'first_touch',
      'linear',
      'position_based',
      'time_decay',
    ] as const) {
      for (let n = 1; n <= 13; n++) {
        const touchTimes = Array.from({ length: n }, (_, i) => conversion - (n - i) * 0.37 * DAY);
        const shares = creditShares(model, touchTimes, conversion);
        expect(shares).toHaveLength(n);
        expect(shares.reduce((a, b) => a + b, 0)).toBe(CREDIT_UNIT);
        expect(shares.every((share) => share >= 0)).toBe(true);
      }
    }
  });

  it('gives no shares without touchpoints', () => {
    expect(creditShares('linear', [], conversion)).toEqual([]);
  });
});
