import { describe, expect, it } from 'vitest';
import { DEFAULT_FUNNELS } from '../config/funnels-file';
import { buildFunnelStages } from './funnel-report';

const funnel = DEFAULT_FUNNELS[0];

describe('buildFunnelStages', () => {
  it('computes conversion from the previous and the first stage', () => {
    const stages = buildFunnelStages(funnel, [
      { stageIndex: 0, subjects: 200, medianSecondsFromPrevious: null },
      { stageIndex: 1, subjects: 50, medianSecondsFromPrevious: 120 },
      { stageIndex: 2, subjects: 20, medianSecondsFromPrevious: 3600 },
      { stageIndex: 3, subjects: 3, medianSecondsFromPrevious: 86400.5 },
    ]);
    expect(stages).toEqual([
      {
        stage: 'visit',
        subjects: 200,
        conversion_from_previous: null,
        conversion_from_first: 1,
        median_seconds_from_previous: null,
      },
      {
        stage: 'lead',
        subjects: 50,
        conversion_from_previous: 0.25,
        conversion_from_first: 0.25,
        median_seconds_from_previous: 120,
      },
      {
        stage: 'signup',
        subjects: 20,
        conversion_from_previous: 0.4,
        conversion_from_first: 0.1,
        median_seconds_from_previous: 3600,
      },
      {
        stage: 'customer',
        subjects: 3,
        conversion_from_previous: 0.15,
        conversion_from_first: 0.015,
        median_seconds_from_previous: 86400.5,
      },
    ]);
  });

  it('lists stages nobody reached with zeros, and no rates over an empty stage', () => {
    const stages = buildFunnelStages(funnel, [
      { stageIndex: 0, subjects: 3, medianSecondsFromPrevious: null },
    ]);
    expect(
      stages.map((s) => [s.stage, s.subjects, s.conversion_from_previous, s.conversion_from_first]),
    ).toEqual([
      ['visit', 3, null, 1],
      ['lead', 0, 0, 0],
      ['signup', 0, null, 0],
      ['customer', 0, null, 0],
    ]);
  });

  it('rounds rates to four decimals', () => {
    const stages = buildFunnelStages(funnel, [
      { stageIndex: 0, subjects: 3, medianSecondsFromPrevious: null },
      { stageIndex: 1, subjects: 1, medianSecondsFromPrevious: 1 },
    ]);
    expect(stages[1].conversion_from_previous).toBe(0.3333);
  });
});
