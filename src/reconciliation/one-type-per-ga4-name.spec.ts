import { describe, expect, it } from 'vitest';
import { oneTypePerGa4Name } from './reconciliation.service';

describe('oneTypePerGa4Name', () => {
  it('compares a GA4 name with the type mapped onto it, leaving out the type named so, with a note', () => {
    expect(
      oneTypePerGa4Name(['purchase', 'sign_up', 'signup_complete'], { signup_complete: 'sign_up' }),
    ).toEqual({
      compared: ['purchase', 'signup_complete'],
      notes: [
        "sign_up is not compared: GA4's sign_up is compared with signup_complete (GA4_EVENT_NAME_MAP).",
      ],
    });
    expect(oneTypePerGa4Name(['a', 'b'], { a: 'x' })).toEqual({ compared: ['a', 'b'], notes: [] });
  });
});
