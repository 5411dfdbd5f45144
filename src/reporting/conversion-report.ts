import { addDays } from '../common/validation/date-range';
import { AttributionModel } from './attribution-models';
import { Conversion, Credit, attributeConversion } from './attribute-conversions';
import { fromMicros, toMicros } from './money';

export interface CreditFilters {
  /** Only credit given to touchpoints from this source. */
  utmSource?: string;
  /** Only credit given to touchpoints of this campaign. */
  utmCampaign?: string;
}

export interface ValueTotals {
  conversions: number;
  value_by_currency: Record<string, number>;
}

export interface ConversionReportBody {
  totals: ValueTotals;
  by_source: (ValueTotals & { source: string; medium: string; campaign: string | null })[];
  by_event_type: (ValueTotals & { event_type: string })[];
  daily: { date: string; conversions: number }[];
}

/** Sums in exact millionths: credit shares and credited values per currency. */
class Tally {
  shares = 0;
  readonly values = new Map<string, bigint>();

  add(share: number, value: string | null, currency: string | null): void {
    this.shares += share;
    if (value === null || currency === null) return;
    const credited = (toMicros(value) * BigInt(share)) / 1_000_000n;
    this.values.set(currency, (this.values.get(currency) ?? 0n) + credited);
  }

  toTotals(): ValueTotals {
    const value_by_currency: Record<string, number> = {};
    for (const [currency, micros] of [...this.values].sort(([a], [b]) => a.localeCompare(b))) {
      value_by_currency[currency] = fromMicros(micros);
    }
    return { conversions: fromMicros(BigInt(this.shares)), value_by_currency };
  }
}

function tallyOf<K>(map: Map<K, Tally>, key: K): Tally {
  let tally = map.get(key);
  if (!tally) map.set(key, (tally = new Tally()));
  return tally;
}

/**
 * Attributes every conversion and sums the credit that passes the filters by source,
 * by event type and by day. Values are never summed across currencies.
 */
export function buildConversionReport(
  conversions: readonly Conversion[],
  options: {
    model: AttributionModel;
    lookbackDays: number;
    filters: CreditFilters;
    startDate: string;
    endDate: string;
  },
): ConversionReportBody {
  const totals = new Tally();
  const bySource = new Map<string, Tally>();
  const byEventType = new Map<string, Tally>();
  const daily = new Map<string, Tally>();
  for (const conversion of conversions) {
    for (const credit of attributeConversion(conversion, options.model, options.lookbackDays)) {
      if (!passes(credit, options.filters)) continue;
      const { share } = credit;
      totals.add(share, conversion.value, conversion.currency);
      tallyOf(bySource, JSON.stringify([credit.source, credit.medium, credit.campaign])).add(
        share,
        conversion.value,
        conversion.currency,
      );
      tallyOf(byEventType, conversion.eventType).add(share, conversion.value, conversion.currency);
      tallyOf(daily, conversion.date).add(share, null, null);
    }
  }
  return {
    totals: totals.toTotals(),
    by_source: [...bySource]
      .map(([key, tally]) => {
        const [source, medium, campaign] = JSON.parse(key) as [string, string, string | null];
        return { source, medium, campaign, ...tally.toTotals() };
      })
      .sort(
        (a, b) =>
          b.conversions - a.conversions ||
          a.source.localeCompare(b.source) ||
          a.medium.localeCompare(b.medium) ||
          (a.campaign ?? '').localeCompare(b.campaign ?? ''),
      ),
    by_event_type: [...byEventType]
      .map(([event_type, tally]) => ({ event_type, ...tally.toTotals() }))
      .sort((a, b) => b.conversions - a.conversions || a.event_type.localeCompare(b.event_type)),
    daily: daysBetween(options.startDate, options.endDate).map((date) => ({
      date,
      conversions: daily.get(date)?.toTotals().conversions ?? 0,
    })),
  };
}

function passes(credit: Credit, filters: CreditFilters): boolean {
  if (filters.utmSource !== undefined && credit.source !== filters.utmSource) return false;
  if (filters.utmCampaign !== undefined && credit.campaign !== filters.utmCampaign) return false;
  return true;
}

function daysBetween(startDate: string, endDate: string): string[] {
  const days: string[] = [];
  for (let day = startDate; day <= endDate; day = addDays(day, 1)) days.push(day);
  return days;
}
