import { Conversion } from '../../src/reporting/attribute-conversions';

/** Test data for the credit specs: one day in milliseconds, and the conversions' time. */
export const DAY = 86_400_000;
export const NOW = Date.UTC(2026, 10, 20, 12);

/** A 10.50 EUR purchase at NOW: two google/cpc/bf touchpoints (one outside 30 days), then a newsletter email. */
export function aConversion(overrides: Partial<Conversion> = {}): Conversion {
  return {
    eventType: 'purchase',
    occurredAt: NOW,
    date: '2026-11-20',
    value: '10.5',
    currency: 'EUR',
    touchpoints: [
      { source: 'google', medium: 'cpc', campaign: 'bf', occurredAt: NOW - 40 * DAY },
      { source: 'google', medium: 'cpc', campaign: 'bf', occurredAt: NOW - 2 * DAY },
      { source: 'newsletter', medium: 'email', campaign: null, occurredAt: NOW - DAY },
    ],
    ...overrides,
  };
}
