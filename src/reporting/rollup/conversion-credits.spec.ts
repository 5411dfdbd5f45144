import { describe, expect, it } from 'vitest';
import { CreditTuple } from './attribution-refresh.repository';
import { DAY, NOW, aConversion as conversion } from '../../../test/support/a-conversion';
import { changedCredits, creditTuples, rollupDeltas } from './conversion-credits';

describe('creditTuples', () => {
  it('gives every model the whole value, to the millionth, however it is shared', () => {
    const tuples = creditTuples(conversion({ value: '49.99' }));
    for (const model of ['last_touch', 'first_touch', 'linear', 'position_based', 'time_decay']) {
      const credited = tuples
        .filter((tuple) => tuple[0] === model)
        .reduce((sum, tuple) => sum + BigInt(tuple[8]), 0n);
      expect(credited, model).toBe(49_990_000n);
    }
  });

  it('credits every model at the 30-day lookback, values in micros of the currency', () => {
    const tuples = creditTuples(conversion());
    const byModel = (model: string) => tuples.filter((tuple) => tuple[0] === model);
    // The 40-day-old touch is outside the window.
    expect(byModel('last_touch')).toEqual([
      [
        'last_touch',
        '2026-11-20',
        'purchase',
        'newsletter',
        'email',
        null,
        'EUR',
        1_000_000,
        '10500000',
      ],
    ]);
    expect(byModel('first_touch')).toEqual([
      [
        'first_touch',
        '2026-11-20',
        'purchase',
        'google',
        'cpc',
        'bf',
        'EUR',
        1_000_000,
        '10500000',
      ],
    ]);
    expect(byModel('linear').map((tuple) => [tuple[7], tuple[8]])).toEqual([
      [500_000, '5250000'],
      [500_000, '5250000'],
    ]);
    for (const model of ['linear', 'position_based', 'time_decay']) {
      expect(byModel(model).reduce((sum, tuple) => sum + tuple[7], 0)).toBe(1_000_000);
    }
  });

  it('folds touchpoints of one source, medium and campaign into one tuple per model', () => {
    const touch = (source: string, campaign: string | null, daysAgo: number) => ({
      source,
      medium: 'cpc',
      campaign,
      occurredAt: NOW - daysAgo * DAY,
    });
    const tuples = creditTuples(
      conversion({
        value: '10',
        touchpoints: [
          touch('google', 'bf', 9),
          touch('google', null, 7),
          touch('google', 'bf', 5),
          touch('bing', 'bf', 3),
          touch('google', 'bf', 1),
        ],
      }),
    );
    const linear = tuples
      .filter((tuple) => tuple[0] === 'linear')
      .map((tuple) => [tuple[3], tuple[5], tuple[7], tuple[8]]);
    // Three google/bf touches of 200,000 each (2,000,000 micros of the value each), summed.
    expect(linear).toEqual([
      ['google', 'bf', 600_000, '6000000'],
      ['google', null, 200_000, '2000000'],
      ['bing', 'bf', 200_000, '2000000'],
    ]);
    for (const model of ['linear', 'position_based', 'time_decay']) {
      const ofModel = tuples.filter((tuple) => tuple[0] === model);
      expect(ofModel).toHaveLength(3);
      expect(ofModel.reduce((sum, tuple) => sum + tuple[7], 0)).toBe(1_000_000);
    }
  });

  it('gives (direct) the conversion without touchpoints and no currency without a value', () => {
    const tuples = creditTuples(conversion({ touchpoints: [], value: null }));
    expect(tuples).toHaveLength(5);
    expect(tuples[0]).toEqual([
      'last_touch',
      '2026-11-20',
      'purchase',
      '(direct)',
      '(none)',
      null,
      null,
      1_000_000,
      '0',
    ]);
  });
});

describe('rollupDeltas', () => {
  const tuple = (source: string, share: number, micros: string): CreditTuple => [
    'linear',
    '2026-11-20',
    'purchase',
    source,
    'cpc',
    null,
    'EUR',
    share,
    micros,
  ];

  it('adds new credit, subtracts the credit it replaces and drops what does not move', () => {
    const before = new Map([['c1', [tuple('google', 1_000_000, '100')]]]);
    const after = new Map([
      ['c1', [tuple('google', 500_000, '50'), tuple('bing', 500_000, '50')]],
      ['c2', [tuple('google', 500_000, '7')]],
    ]);
    expect(rollupDeltas(before, after)).toEqual([
      expect.objectContaining({
        source: 'bing',
        conversions: '500000',
        value_micros: '50',
        valued: 1,
      }),
      expect.objectContaining({
        source: 'google',
        conversions: '0',
        value_micros: '-43',
        valued: 1,
      }),
    ]);
    expect(rollupDeltas(before, new Map([['c1', [tuple('google', 1_000_000, '100')]]]))).toEqual(
      [],
    );
  });
});

describe('changedCredits', () => {
  it('keeps new and changed credit, in any order of tuples, and drops the same credit', () => {
    const stored = creditTuples(conversion());
    const changed = creditTuples(conversion({ value: '11' }));
    const before = new Map([
      ['same', stored],
      ['reordered', stored],
      ['changed', stored],
    ]);
    const after = new Map([
      ['same', creditTuples(conversion())],
      ['reordered', [...stored].reverse()],
      ['changed', changed],
      ['new', stored],
    ]);
    expect([...changedCredits(before, after).keys()]).toEqual(['changed', 'new']);
  });
});
