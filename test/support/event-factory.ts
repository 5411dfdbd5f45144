import { randomUUID } from 'node:crypto';

/** A valid, realistic event; override what a test is about. */
export function anEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_type: 'purchase',
    event_id: randomUUID(),
    visitor_id: `v_${randomUUID().slice(0, 8)}`,
    session_id: 's_1',
    page_url:
      'https://shop.example.com/checkout?utm_source=Newsletter&utm_medium=Email&utm_campaign=black_friday',
    referrer: 'https://mail.example.net/',
    value: 49.9,
    currency: 'EUR',
    properties: { plan: 'pro', items: [{ sku: 'A1', qty: 2 }] },
    ...overrides,
  };
}
