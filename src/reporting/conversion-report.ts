import { nextTurn } from '../common/next-turn';
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
export class Tally {
  shares = 0;
  readonly values = new Map<string, bigint>();

  /** Credit already summed: `micros` of `currency` (null: credit without a value). */
  addCredited(shares: number, currency: string | null, micros: bigint): void {
    this.shares += shares;
    if (currency !== null) this.values.set(currency, (this.values.get(currency) ?? 0n) + micros);
  }

  toTotals(): ValueTotals {
    const value_by_currency: Record<string, number> = {};
    for (const [currency, micros] of [...this.values].sort(([a], [b]) => a.localeCompare(b))) {
      value_by_currency[currency] = fromMicros(micros);
    }
    return { conversions: fromMicros(BigInt(this.shares)), value_by_currency };
  }
}

export function tallyOf<K>(map: Map<K, Tally>, key: K): Tally {
  let tally = map.get(key);
  if (!tally) map.set(key, (tally = new Tally()));
  return tally;
}

/** Credit summed four ways; by source keyed by `sourceKey`. */
export interface ReportTallies {
  totals: Tally;
  bySource: Map<string, Tally>;
  byEventType: Map<string, Tally>;
  daily: Map<string, Tally>;
}

export function emptyTallies(): ReportTallies {
  return { totals: new Tally(), bySource: new Map(), byEventType: new Map(), daily: new Map() };
}

export function sourceKey(source: string, medium: string, campaign: string | null): string {
  return JSON.stringify([source, medium, campaign]);
}

/** Conversions attributed between two turns of the event loop (a few milliseconds). */
const CONVERSIONS_PER_TURN = 1_000;

/**
 * Attributes every conversion and sums the credit that passes the filters by source,
 * by event type and by day. Values are never summed across currencies. A report over a
 * year of raw events has ~10^5 conversions: it lets the event loop answer tracking
 * requests between slices of them rather than hold it for the whole tally.
 */
export async function tallyConversions(
  conversions: readonly Conversion[],
  options: { model: AttributionModel; lookbackDays: number; filters: CreditFilters },
): Promise<ReportTallies> {
  const tallies = emptyTallies();
  for (const [index, conversion] of conversions.entries()) {
    if (index > 0 && index % CONVERSIONS_PER_TURN === 0) await nextTurn();
    // Split before filtering, so a credit carries the same part of the value either way.
    const currency = conversion.value === null ? null : conversion.currency;
    const valueMicros = currency === null ? 0n : toMicros(conversion.value!);
    const credits = attributeConversion(
      conversion,
      options.model,
      options.lookbackDays,
      valueMicros,
    );
    for (const credit of credits) {
      if (!passes(credit, options.filters)) continue;
      const { share, micros } = credit;
      tallies.totals.addCredited(share, currency, micros);
      tallyOf(
        tallies.bySource,
        sourceKey(credit.source, credit.medium, credit.campaign),
      ).addCredited(share, currency, micros);
      tallyOf(tallies.byEventType, conversion.eventType).addCredited(share, currency, micros);
      tallyOf(tallies.daily, conversion.date).addCredited(share, null, 0n);
    }
  }
  return tallies;
}

/** The report's sums as the API shows them, sources and types by credit, every day listed. */
export function reportBody(
  tallies: ReportTallies,
  range: { startDate: string; endDate: string },
): ConversionReportBody {
  return {
    totals: tallies.totals.toTotals(),
    by_source: [...tallies.bySource]
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
    by_event_type: [...tallies.byEventType]
      .map(([event_type, tally]) => ({ event_type, ...tally.toTotals() }))
      .sort((a, b) => b.conversions - a.conversions || a.event_type.localeCompare(b.event_type)),
    daily: daysBetween(range.startDate, range.endDate).map((date) => ({
      date,
      conversions: tallies.daily.get(date)?.toTotals().conversions ?? 0,
    })),
  };
}

/** Straight from the conversions: attribution in memory, then the report's sums. */
export async function buildConversionReport(
  conversions: readonly Conversion[],
  options: {
    model: AttributionModel;
    lookbackDays: number;
    filters: CreditFilters;
    startDate: string;
    endDate: string;
  },
): Promise<ConversionReportBody> {
  return reportBody(await tallyConversions(conversions, options), options);
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
