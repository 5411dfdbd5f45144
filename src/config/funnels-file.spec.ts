import { describe, expect, it } from 'vitest';
import { parseFunnels } from './funnels-file';

describe('parseFunnels', () => {
  it('reads funnels with ordered stages and their event types', () => {
    expect(
      parseFunnels({
        funnels: [
          {
            name: 'trial',
            stages: [
              { name: 'started', event_types: ['trial_start'] },
              { name: 'paid', event_types: ['purchase', 'subscribe'] },
            ],
          },
        ],
      }),
    ).toEqual({
      funnels: [
        {
          name: 'trial',
          stages: [
            { name: 'started', eventTypes: ['trial_start'] },
            { name: 'paid', eventTypes: ['purchase', 'subscribe'] },
          ],
        },
      ],
    });
  });

  it.each([
    [{}, 'funnels'],
    [{ funnels: [] }, 'funnels'],
    [
      { funnels: [{ name: 'bad name', stages: [{ name: 'a', event_types: ['x'] }] }] },
      'funnels[0].name',
    ],
    [{ funnels: [{ name: 'f', stages: [] }] }, 'funnels[0] (f).stages'],
    [
      { funnels: [{ name: 'f', stages: [{ name: 'a', event_types: [] }] }] },
      'funnels[0] (f).stages[0].event_types',
    ],
    [{ funnels: [{ name: 'f', stages: [{ name: 'a', event_types: ['1x'] }] }] }, 'event_types'],
    // Misspelt keys are refused, not dropped.
    [
      { funnels: [{ name: 'f', stages: [{ name: 'a', event_types: ['x'], event_type: 'y' }] }] },
      'funnels[0] (f).stages[0] has an unknown key "event_type"',
    ],
    [
      { funnels: [{ name: 'f', extra: 1, stages: [{ name: 'a', event_types: ['x'] }] }] },
      'funnels[0] has an unknown key "extra"',
    ],
    [
      { funnel: {}, funnels: [{ name: 'f', stages: [{ name: 'a', event_types: ['x'] }] }] },
      'the file has an unknown key "funnel"',
    ],
    [
      {
        funnels: [
          {
            name: 'f',
            stages: [
              { name: 'a', event_types: ['x'] },
              { name: 'a', event_types: ['y'] },
            ],
          },
        ],
      },
      'defined twice',
    ],
    [
      {
        funnels: [
          {
            name: 'f',
            stages: [
              { name: 'a', event_types: ['x'] },
              { name: 'b', event_types: ['x'] },
            ],
          },
        ],
      },
      'already reaches stage "a"',
    ],
    [
      {
        funnels: [
          { name: 'f', stages: [{ name: 'a', event_types: ['x'] }] },
          { name: 'f', stages: [{ name: 'a', event_types: ['x'] }] },
        ],
      },
      '"f" is defined twice',
    ],
  ])('refuses %j, saying where (%s)', (input, where) => {
    const result = parseFunnels(input);
    expect('problems' in result && result.problems.join('\n')).toContain(where);
  });
});
