import { describe, expect, it } from 'vitest';
import { Conversion, Touchpoint } from './attribute-conversions';
import { buildConversionReport } from './conversion-report';

const DAY = 86_400_000;
const t0 = Date.parse('2026-11-20T12:00:00Z');
const touch = (
  source: string,
  daysBefore: number,
  campaign: string | null = null,
  medium = 'cpc',
): Touchpoint => ({
  source,
  medium,
  campaign,
  occurredAt: t0 - daysBefore * DAY,
});
const conversion = (overrides: Partial<Conversion>): Conversion => ({
  eventType: 'purchase',
  occurredAt: t0,
  date: '2026-11-20',
  value: '30',
  currency: 'EUR',
  touchpoints: [],
  ...overrides,
});
const options = {
  model: 'linear' as const,
  lookbackDays: 30,
  filters: {},
  startDate: '2026-11-19',
  endDate: '2026-11-21',
};

describe('buildConversionReport', () => {
  it.each(['last_touch', 'first_touch', 'linear', 'position_based', 'time_decay'] as const)(
    'credits a value shared among touchpoints exactly, to the cent (%s)',
    async (model) => {
      const shared = conversion({
        value: '49.99',
        touchpoints: [touch('p1', 3), touch('p2', 2), touch('p3', 1)],
      });
      const cent = conversion({
        value: '0.01',
        currency: 'USD',
        touchpoints: [touch('p1', 3), touch('p2', 2), touch('p3', 1)],
      });
      const report = await buildConversionReport([shared, cent], { ...options, model });
      expect(report.totals.value_by_currency).toEqual({ EUR: 49.99, USD: 0.01 });
      const micros = (currency: string) =>
        report.by_source.reduce(
          (sum, row) => sum + Math.round((row.value_by_currency[currency] ?? 0) * 1e6),
          0,
        );
      expect(micros('EUR')).toBe(49_990_000);
      expect(micros('USD')).toBe(10_000);
    },
  );

  it('splits each conversion by the model and sums exactly per source, type and day', async () => {
    const report = await buildConversionReport(
      [
        conversion({
          touchpoints: [
            touch('google', 3, 'bf'),
            touch('newsletter', 2, 'nl', 'email'),
            touch('google', 1, 'bf'),
          ],
        }),
        conversion({
          eventType: 'sign_up',
          value: null,
          currency: null,
          date: '2026-11-21',
          touchpoints: [touch('google', 1, 'bf')],
        }),
        conversion({ value: '10', currency: 'USD', touchpoints: [] }),
      ],
      options,
    );
    expect(report.totals).toEqual({ conversions: 3, value_by_currency: { EUR: 30, USD: 10 } });
    expect(report.by_source).toEqual([
      {
        source: 'google',
        medium: 'cpc',
        campaign: 'bf',
        conversions: 1.666667,
        value_by_currency: { EUR: 20 },
      },
      {
        source: '(direct)',
        medium: '(none)',
        campaign: null,
        conversions: 1,
        value_by_currency: { USD: 10 },
      },
      {
        source: 'newsletter',
        medium: 'email',
        campaign: 'nl',
        conversions: 0.333333,
        value_by_currency: { EUR: 10 },
      },
    ]);
    expect(report.by_event_type).toEqual([
      { event_type: 'purchase', conversions: 2, value_by_currency: { EUR: 30, USD: 10 } },
      { event_type: 'sign_up', conversions: 1, value_by_currency: {} },
    ]);
    expect(report.daily).toEqual([
      { date: '2026-11-19', conversions: 0 },
      { date: '2026-11-20', conversions: 2 },
      { date: '2026-11-21', conversions: 1 },
    ]);
  });

  it('keeps only touchpoints inside the lookback window, else credits (direct)', async () => {
    const report = await buildConversionReport(
      [conversion({ touchpoints: [touch('google', 10)] })],
      {
        ...options,
        lookbackDays: 7,
      },
    );
    expect(report.by_source.map((row) => row.source)).toEqual(['(direct)']);
  });

  it('filters on the credited touchpoint, not on the conversion', async () => {
    const conversions = [
      conversion({ touchpoints: [touch('google', 2, 'bf'), touch('bing', 1, 'spring')] }),
    ];
    const bySource = await buildConversionReport(conversions, {
      ...options,
      filters: { utmSource: 'google' },
    });
    expect(bySource.totals).toEqual({ conversions: 0.5, value_by_currency: { EUR: 15 } });
    expect(bySource.by_source.map((row) => row.source)).toEqual(['google']);
    const byCampaign = await buildConversionReport(conversions, {
      ...options,
      filters: { utmCampaign: 'spring' },
    });
    expect(byCampaign.by_source.map((row) => row.campaign)).toEqual(['spring']);
    expect(byCampaign.daily.find((d) => d.date === '2026-11-20')?.conversions).toBe(0.5);
  });

  it('never sums values across currencies', async () => {
    const report = await buildConversionReport(
      [conversion({ value: '1.5', currency: 'EUR' }), conversion({ value: '2', currency: 'GBP' })],
      options,
    );
    expect(report.totals.value_by_currency).toEqual({ EUR: 1.5, GBP: 2 });
  });
});
