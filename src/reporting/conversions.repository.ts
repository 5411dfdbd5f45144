import { Injectable } from '@nestjs/common';
import { localDaysParams, onLocalDays } from '../common/local-days.sql';
import { nextTurn } from '../common/next-turn';
import { DateRange } from '../common/validation/date-range';
import { Sql } from '../persistence/database';
import { InjectReportDatabase } from '../persistence/report-database';
import { Conversion, Touchpoint } from './attribute-conversions';

export interface ConversionQuery {
  range: DateRange;
  lookbackDays: number;
  /** Undefined: every type except page_view. */
  conversionTypes: string[] | undefined;
  eventType: string | undefined;
  includeBots: boolean;
}

/** Rows turned into conversions and touchpoints between two turns of the event loop. */
const ROWS_PER_TURN = 10_000;

interface Row {
  subject: string;
  event_type: string;
  occurred_ms: number;
  day: string;
  value: string | null;
  currency: string | null;
  source: string;
  medium: string;
  campaign: string | null;
  is_conversion: boolean;
}

/**
 * Conversions in the range and their subjects' touchpoints in one pass over the events
 * from (start − lookback) to the end of the range. An event's subject is its user, or
 * the user its visitor was linked to (so anonymous touchpoints count for the user),
 * else the visitor.
 */
@Injectable()
export class ConversionsRepository {
  constructor(@InjectReportDatabase() private readonly database: Sql) {}

  async conversionsWithTouchpoints(query: ConversionQuery): Promise<Conversion[]> {
    const { sql, params } = buildQuery(query);
    const rows = await this.database.query<Row>(sql, params);
    // Every conversion of a subject shares the one list of its touchpoints, later ones too
    // (attribution keeps those inside its window).
    const touchpointsBySubject = new Map<string, Touchpoint[]>();
    const conversions: Conversion[] = [];
    for (const [index, row] of rows.entries()) {
      if (index > 0 && index % ROWS_PER_TURN === 0) await nextTurn();
      let touchpoints = touchpointsBySubject.get(row.subject);
      if (touchpoints === undefined) touchpointsBySubject.set(row.subject, (touchpoints = []));
      if (row.source !== '(direct)')
        touchpoints.push({
          source: row.source,
          medium: row.medium,
          campaign: row.campaign,
          occurredAt: row.occurred_ms,
        });
      if (row.is_conversion)
        conversions.push({
          eventType: row.event_type,
          occurredAt: row.occurred_ms,
          date: row.day,
          value: row.value,
          currency: row.currency,
          touchpoints,
        });
    }
    return conversions;
  }
}

/** SQL and its parameters, in the order their placeholders appear. */
function buildQuery(query: ConversionQuery): { sql: string; params: unknown[] } {
  const { range } = query;
  const types = query.conversionTypes;
  const conversionType =
    types === undefined
      ? `e.event_type <> 'page_view'`
      : `e.event_type IN (${types.map(() => '?').join(', ')})`;
  const eventTypeFilter = query.eventType === undefined ? '' : 'AND e.event_type = ?';
  const sql = `
    WITH scoped AS (
      SELECT e.event_type, e.occurred_at, e.received_at, e.event_id, e.value::text AS value, e.currency,
             e.source, e.medium, e.campaign,
             COALESCE('u:' || e.user_id, 'u:' || link.user_id, 'v:' || e.visitor_id) AS subject,
             (${onLocalDays('e.occurred_at')} AND ${conversionType} ${eventTypeFilter}) AS is_conversion
      FROM events e
      LEFT JOIN LATERAL (
        SELECT l.user_id FROM identity_links l WHERE l.visitor_id = e.visitor_id
        ORDER BY l.linked_at DESC, l.user_id LIMIT 1
      ) link ON e.user_id IS NULL
      -- The widest bounds of onLocalDays, and before them the lookback.
      WHERE e.occurred_at >= (((?::date) - 1)::timestamp AT TIME ZONE ?) - make_interval(hours => 24 * ?::int)
        AND e.occurred_at < ((?::date) + 2)::timestamp AT TIME ZONE ?
        ${query.includeBots ? '' : 'AND NOT e.is_bot'}
        -- What the last filter below keeps, early: most events are direct page views,
        -- and each row that reaches the join costs a probe of identity_links.
        AND (e.source <> '(direct)' OR ${conversionType})
    )
    SELECT s.subject, s.event_type, (extract(epoch FROM s.occurred_at) * 1000)::float8 AS occurred_ms, to_char(s.occurred_at AT TIME ZONE ?, 'YYYY-MM-DD') AS day,
           s.value, s.currency, s.source, s.medium, s.campaign, s.is_conversion
    FROM scoped s
    WHERE s.subject IN (SELECT subject FROM scoped WHERE is_conversion)
      AND (s.is_conversion OR s.source <> '(direct)')
    ORDER BY s.subject, s.occurred_at, s.received_at, s.event_id`;
  const params = [
    ...localDaysParams(range),
    ...(types ?? []),
    ...(query.eventType === undefined ? [] : [query.eventType]),
    range.startDate,
    range.timeZone,
    query.lookbackDays,
    range.endDate,
    range.timeZone,
    ...(types ?? []),
    range.timeZone,
  ];
  return { sql, params };
}
