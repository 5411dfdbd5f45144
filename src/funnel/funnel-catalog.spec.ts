import { describe, expect, it } from 'vitest';
import { ValidationFailedError } from '../common/http/domain-error';
import { DEFAULT_FUNNELS } from '../config/funnels-file';
import { FunnelCatalog } from './funnel-catalog';

const catalog = new FunnelCatalog([
  ...DEFAULT_FUNNELS,
  {
    name: 'trial',
    stages: [
      { name: 'started', eventTypes: ['trial_start'] },
      { name: 'paid', eventTypes: ['subscribe', 'purchase'] },
    ],
  },
]);

describe('FunnelCatalog', () => {
  it('finds every stage an event type reaches, one per funnel, with its position', () => {
    expect(catalog.stagesFor('purchase')).toEqual([
      { funnel: 'default', stage: 'customer', stageIndex: 3 },
      { funnel: 'trial', stage: 'paid', stageIndex: 1 },
    ]);
    expect(catalog.stagesFor('page_view')).toEqual([
      { funnel: 'default', stage: 'visit', stageIndex: 0 },
    ]);
  });

  it('reaches no stage for other event types', () => {
    expect(catalog.stagesFor('add_to_cart')).toEqual([]);
  });

  it('resolves a named stage to its position', () => {
    expect(catalog.resolve('trial', 'paid')).toEqual({
      funnel: 'trial',
      stage: 'paid',
      stageIndex: 1,
    });
  });

  it('refuses an unknown funnel or stage, naming the valid ones', () => {
    const details = (call: () => unknown) => {
      try {
        call();
      } catch (error) {
        return (error as ValidationFailedError).details;
      }
      throw new Error('expected a ValidationFailedError');
    };
    expect(details(() => catalog.resolve('default', 'trial'))).toEqual([
      {
        field: 'stage',
        message:
          'unknown stage "trial" in funnel "default"; valid stages: visit, lead, signup, customer',
      },
    ]);
    expect(details(() => catalog.resolve('nope', 'x'))).toEqual([
      { field: 'funnel', message: 'unknown funnel "nope"; valid funnels: default, trial' },
    ]);
  });
});
