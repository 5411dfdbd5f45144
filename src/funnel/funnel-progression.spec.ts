import { describe, expect, it } from 'vitest';
import { decideProgress, furthest } from './funnel-progression';

describe('decideProgress', () => {
  it('enters the funnel at any stage', () => {
    expect(decideProgress(null, 0)).toEqual({
      advanced: true,
      previousIndex: null,
      currentIndex: 0,
    });
    expect(decideProgress(null, 2)).toEqual({
      advanced: true,
      previousIndex: null,
      currentIndex: 2,
    });
  });

  it('moves forward, skipping stages when needed', () => {
    expect(decideProgress(0, 1)).toEqual({ advanced: true, previousIndex: 0, currentIndex: 1 });
    expect(decideProgress(0, 3)).toEqual({ advanced: true, previousIndex: 0, currentIndex: 3 });
  });

  it('never moves back, and repeats of the current stage change nothing', () => {
    expect(decideProgress(2, 1)).toEqual({ advanced: false, previousIndex: 2, currentIndex: 2 });
    expect(decideProgress(2, 2)).toEqual({ advanced: false, previousIndex: 2, currentIndex: 2 });
  });

  it('ends at the furthest stage whatever the order of updates', () => {
    const orders = [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [2, 0, 3, 1],
      [1, 3, 0, 2],
    ];
    for (const order of orders) {
      const final = order.reduce<number | null>(
        (current, target) => decideProgress(current, target).currentIndex,
        null,
      );
      expect(final).toBe(3);
    }
  });
});

describe('furthest', () => {
  it('picks the further position, treating null as not entered', () => {
    expect(furthest(null, null)).toBeNull();
    expect(furthest(null, 1)).toBe(1);
    expect(furthest(2, null)).toBe(2);
    expect(furthest(1, 3)).toBe(3);
  });
});
