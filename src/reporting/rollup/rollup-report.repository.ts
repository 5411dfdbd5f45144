import { Injectable } from '@nestjs/common';
import { DateRange } from '../../common/validation/date-range';
import { Sql } from '../../persistence/database';
import { InjectReportDatabase } from '../../persistence/report-database';
import { AttributionModel } from '../attribution-models';
import {
  CreditFilters,
  ReportTallies,
  emptyTallies,
  sourceKey,
  tallyOf,
} from '../conversion-report';

interface SumRow {
  grouping: number;
  source: string | null;
  medium: string | null;
  campaign: string | null;
  event_type: string | null;
  day: string | null;
  currency: string | null;
  conversions: string;
  value_micros: string;
  valued: number;
}

/** Bits of GROUPING(source, event_type, day, currency): set when the column is rolled up. */
const ROLLED_UP = { source: 8, eventType: 4, day: 2, currency: 1 } as const;
const GROUPINGS = {
  totals: ROLLED_UP.source | ROLLED_UP.eventType | ROLLED_UP.day,
  bySource: ROLLED_UP.eventType | ROLLED_UP.day,
  byEventType: ROLLED_UP.source | ROLLED_UP.day,
  daily: ROLLED_UP.source | ROLLED_UP.eventType | ROLLED_UP.currency,
};

/**
 * Reads the report from the daily rollup: one indexed range scan of (model, day) and
 * every sum the report needs in one grouping-sets pass, so its cost follows the number
 * of days and credited sources, not the number of events.
 */
@Injectable()
export class RollupReportRepository {
  constructor(@InjectReportDatabase() private readonly database: Sql) {}

  async tallies(query: {
    model: AttributionModel;
    range: DateRange;
    eventType: string | undefined;
    filters: CreditFilters;
  }): Promise<ReportTallies> {
    const conditions = ['model = ?', 'day BETWEEN ?::date AND ?::date'];
    const params: unknown[] = [query.model, query.range.startDate, query.range.endDate];
    for (const [column, value] of [
      ['event_type', query.eventType],
      ['source', query.filters.utmSource],
      ['campaign', query.filters.utmCampaign],
    ] as const) {
      if (value === undefined) continue;
      conditions.push(`${column} = ?`);
      params.push(value);
    }
    const rows = await this.database.query<SumRow>(
      `SELECT GROUPING(source, event_type, day, currency) AS grouping,
              source, medium, campaign, event_type, to_char(day, 'YYYY-MM-DD') AS day, currency,
              sum(conversions)::text AS conversions, sum(value_micros)::text AS value_micros,
              sum(valued)::int AS valued
       FROM attribution_daily
       WHERE ${conditions.join(' AND ')}
       GROUP BY GROUPING SETS (
         (currency), (source, medium, campaign, currency), (event_type, currency), (day))`,
      params,
    );
    const tallies = emptyTallies();
    for (const row of rows) {
      const tally = this.tallyFor(tallies, row);
      // A currency appears once some credit carried a value of it, as in the raw sums.
      const currency = row.currency !== null && row.valued > 0 ? row.currency : null;
      tally.addCredited(Number(row.conversions), currency, BigInt(row.value_micros));
    }
    return tallies;
  }

  private tallyFor(tallies: ReportTallies, row: SumRow) {
    switch (row.grouping) {
      case GROUPINGS.totals:
        return tallies.totals;
      case GROUPINGS.bySource:
        return tallyOf(tallies.bySource, sourceKey(row.source!, row.medium!, row.campaign));
      case GROUPINGS.byEventType:
        return tallyOf(tallies.byEventType, row.event_type!);
      case GROUPINGS.daily:
        return tallyOf(tallies.daily, row.day!);
      default:
        throw new Error(`Unexpected grouping ${row.grouping}`);
    }
  }
}
