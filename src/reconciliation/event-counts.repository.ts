import { Injectable } from '@nestjs/common';
import { localDaysParams, onLocalDays } from '../common/local-days.sql';
import { Sql } from '../persistence/database';
import { InjectReportDatabase } from '../persistence/report-database';

export interface DailyTypeCount {
  date: string;
  eventType: string;
  count: number;
}

/** Our side of the reconciliation: stored events per day (in a given zone) and type, bots excluded unless asked for. */
@Injectable()
export class EventCountsRepository {
  constructor(@InjectReportDatabase() private readonly database: Sql) {}

  /** Throws what reading the counts would meet now: a report database that is away. */
  async checkReachable(): Promise<void> {
    await this.database.query('SELECT 1');
  }

  async dailyCounts(query: {
    startDate: string;
    endDate: string;
    timeZone: string;
    eventTypes: readonly string[];
    includeBots?: boolean;
  }): Promise<DailyTypeCount[]> {
    if (query.eventTypes.length === 0) return [];
    const rows = await this.database.query<{ date: string; event_type: string; count: number }>(
      `SELECT to_char(occurred_at AT TIME ZONE ?, 'YYYY-MM-DD') AS date, event_type, count(*)::int AS count
       FROM events
       WHERE ${onLocalDays('occurred_at')}
         AND (? OR NOT is_bot)
         AND event_type IN (SELECT json_array_elements_text(?::json))
       GROUP BY 1, 2`,
      [
        query.timeZone,
        ...localDaysParams(query),
        query.includeBots ?? false,
        JSON.stringify(query.eventTypes),
      ],
    );
    return rows.map((row) => ({ date: row.date, eventType: row.event_type, count: row.count }));
  }

  /**
   * The types stored around the range, for when RECONCILE_EVENT_TYPES is unset. The
   * property's zone is not known before GA4 answers, so the range is widened by the
   * largest UTC offsets; the caller keeps those stored in the property's days.
   */
  async typesAround(startDate: string, endDate: string, includeBots = false): Promise<string[]> {
    const rows = await this.database.query<{ event_type: string }>(
      `SELECT DISTINCT event_type FROM events
       WHERE occurred_at >= (?::date)::timestamp AT TIME ZONE 'UTC' - interval '14 hours'
         AND occurred_at < ((?::date) + 1)::timestamp AT TIME ZONE 'UTC' + interval '14 hours'
         AND (? OR NOT is_bot)
       ORDER BY event_type`,
      [startDate, endDate, includeBots],
    );
    return rows.map((row) => row.event_type);
  }
}
