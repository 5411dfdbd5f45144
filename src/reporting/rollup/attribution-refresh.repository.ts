import { Injectable } from '@nestjs/common';
import { Sql } from '../../persistence/database';
import { StoredCredits, packCredits, unpackCredits } from './stored-credits';

export interface Mark {
  kind: 'u' | 'v';
  identity: string;
  /** PostgreSQL timestamptz text, or -infinity. */
  since: string;
}

export interface SubjectEvent {
  subject: string;
  id: string;
  event_type: string;
  occurred_ms: number;
  /** The event's day in the report time zone. */
  day: string;
  /** Whether the event lies in the part whose conversions are recomputed. */
  recompute: boolean;
  value: string | null;
  currency: string | null;
  source: string;
  medium: string;
  campaign: string | null;
}

/** [model, day, event_type, source, medium, campaign, currency, millionths, value micros] */
export type CreditTuple = [
  string,
  string,
  string,
  string,
  string,
  string | null,
  string | null,
  number,
  string,
];

export interface RollupDelta {
  model: string;
  day: string;
  event_type: string;
  source: string;
  medium: string;
  campaign: string | null;
  currency: string | null;
  conversions: string;
  value_micros: string;
  valued: number;
}

const EVENT_COLUMNS =
  'e.id, e.event_id, e.event_type, e.occurred_at, e.received_at, e.value, e.currency, e.source, e.medium, e.campaign';

/** Takes the two parameters `conversionParams` gives: the default rule, or the listed types. */
const IS_CONVERSION = `((?::boolean AND e.event_type <> 'page_view') OR e.event_type IN (SELECT json_array_elements_text(?::json)))`;

function conversionParams(types: readonly string[] | undefined): [boolean, string] {
  return types === undefined ? [true, '[]'] : [false, JSON.stringify(types)];
}

/** The advisory lock that lets one refresher at a time fold marks into the rollup. */
const REFRESH_LOCK = "hashtext('conversion-tracking:attribution-refresh')";

/**
 * The SQL of the attribution refresher. Everything here runs inside the refresher's
 * transaction: a mark is consumed only if the credit it asks for commits with it.
 */
@Injectable()
export class AttributionRefreshRepository {
  async lock(sql: Sql): Promise<void> {
    await sql.query(`SELECT pg_advisory_xact_lock(${REFRESH_LOCK})`);
  }

  /** The refresh lock if it is free now; false when another process holds it. */
  async tryLock(sql: Sql): Promise<boolean> {
    const rows = await sql.query<{ locked: boolean }>(
      `SELECT pg_try_advisory_xact_lock(${REFRESH_LOCK}) AS locked`,
    );
    return rows[0]?.locked === true;
  }

  /**
   * The oldest marks. Marks of uncommitted writes are invisible here and taken on a
   * later pass; a visible mark's events are visible too, since they committed together.
   * No row locks first: the caller holds the refresh lock, so no one else takes marks, and
   * locking each row before deleting it would write a WAL record per mark for nothing.
   */
  async takeMarks(sql: Sql, limit: number): Promise<Mark[]> {
    return sql.query<Mark>(
      `DELETE FROM attribution_marks
       WHERE seq IN (SELECT seq FROM attribution_marks ORDER BY seq LIMIT ?)
       RETURNING kind, identity, since::text AS since`,
      [limit],
    );
  }

  /**
   * The events of every subject the marks touch, from `lookbackHours` before the
   * earliest instant to recompute on, bots excluded, in the raw report's order. A
   * subject is `u:<user>` (its own events and the anonymous events of visitors whose
   * latest link is to it) or `v:<visitor>` (an unlinked visitor's events); a visitor's
   * mark touches the visitor and every user it was ever linked to, since a new link
   * moves its events from one to another.
   */
  async subjectEvents(
    sql: Sql,
    marks: readonly Mark[],
    options: {
      lookbackHours: number;
      timeZone: string;
      /** Undefined: every type except page_view. */
      conversionTypes: readonly string[] | undefined;
    },
  ): Promise<SubjectEvent[]> {
    return sql.query<SubjectEvent>(
      `WITH marks AS (
         SELECT * FROM json_to_recordset(?::json) AS m(kind text, identity text, since timestamptz)
       ), subjects AS (
         SELECT kind, id, min(since) AS since FROM (
           SELECT kind, identity AS id, since FROM marks
           UNION ALL
           SELECT 'u', l.user_id, m.since FROM marks m JOIN identity_links l ON l.visitor_id = m.identity
           WHERE m.kind = 'v'
         ) expanded GROUP BY kind, id
       ), anonymous_owners AS (
         SELECT s.kind, s.id, s.since, l.visitor_id
         FROM subjects s JOIN identity_links l ON l.user_id = s.id
         WHERE s.kind = 'u' AND l.user_id = (
           SELECT latest.user_id FROM identity_links latest WHERE latest.visitor_id = l.visitor_id
           ORDER BY latest.linked_at DESC, latest.user_id LIMIT 1)
         UNION ALL
         SELECT s.kind, s.id, s.since, s.id FROM subjects s
         WHERE s.kind = 'v' AND NOT EXISTS (SELECT 1 FROM identity_links l WHERE l.visitor_id = s.id)
       ), sources AS (
         SELECT 'u:' || id AS subject, since, id AS user_id, NULL::text AS visitor_id
         FROM subjects WHERE kind = 'u'
         UNION ALL
         SELECT kind || ':' || id, since, NULL, visitor_id FROM anonymous_owners
       ), recomputed AS (
         -- Only subjects with a conversion at or after their mark can change: an event
         -- arriving after a subject's last conversion (most of them) costs one index probe.
         SELECT s.subject FROM sources s WHERE s.user_id IS NOT NULL AND EXISTS (
           SELECT 1 FROM events e WHERE e.user_id = s.user_id AND e.occurred_at >= s.since
             AND NOT e.is_bot AND ${IS_CONVERSION})
         UNION
         SELECT s.subject FROM sources s WHERE s.visitor_id IS NOT NULL AND EXISTS (
           SELECT 1 FROM events e WHERE e.visitor_id = s.visitor_id AND e.user_id IS NULL
             AND e.occurred_at >= s.since AND NOT e.is_bot AND ${IS_CONVERSION})
       ), owned AS (
         SELECT s.subject, s.since, ${EVENT_COLUMNS} FROM sources s JOIN recomputed USING (subject)
         JOIN events e ON e.user_id = s.user_id
         WHERE s.user_id IS NOT NULL AND e.occurred_at >= s.since - make_interval(hours => ?) AND NOT e.is_bot
         UNION ALL
         SELECT s.subject, s.since, ${EVENT_COLUMNS} FROM sources s JOIN recomputed USING (subject)
         JOIN events e ON e.visitor_id = s.visitor_id AND e.user_id IS NULL
         WHERE s.visitor_id IS NOT NULL AND e.occurred_at >= s.since - make_interval(hours => ?) AND NOT e.is_bot
       )
       SELECT subject, id, event_type, (extract(epoch FROM occurred_at) * 1000)::float8 AS occurred_ms,
              to_char(occurred_at AT TIME ZONE ?, 'YYYY-MM-DD') AS day, occurred_at >= since AS recompute,
              value::text AS value, currency, source, medium, campaign
       FROM owned
       ORDER BY subject, occurred_at, received_at, event_id`,
      [
        JSON.stringify(marks),
        ...conversionParams(options.conversionTypes),
        ...conversionParams(options.conversionTypes),
        options.lookbackHours,
        options.lookbackHours,
        options.timeZone,
      ],
    );
  }

  async previousCredits(
    sql: Sql,
    eventIds: readonly string[],
  ): Promise<Map<string, CreditTuple[]>> {
    if (eventIds.length === 0) return new Map();
    const rows = await sql.query<{ event_id: string; credits: StoredCredits }>(
      `SELECT event_id, credits FROM conversion_credits
       WHERE event_id IN (SELECT id::uuid FROM json_array_elements_text(?::json) AS ids(id))`,
      [JSON.stringify(eventIds)],
    );
    return new Map(rows.map((row) => [row.event_id, unpackCredits(row.credits)]));
  }

  async saveCredits(sql: Sql, credits: ReadonlyMap<string, CreditTuple[]>): Promise<void> {
    if (credits.size === 0) return;
    const rows = [...credits].map(([event_id, tuples]) => ({
      event_id,
      credits: packCredits(tuples),
    }));
    await sql.query(
      `INSERT INTO conversion_credits (event_id, credits)
       SELECT event_id, credits FROM json_to_recordset(?::json) AS c(event_id uuid, credits jsonb)
       ORDER BY event_id
       ON CONFLICT (event_id) DO UPDATE SET credits = excluded.credits`,
      [JSON.stringify(rows)],
    );
  }

  /**
   * Adds the deltas to the rollup and drops rows left with nothing: no credit, no value
   * (a touchpoint can carry a part of a value whose credit rounds to 0 millionths).
   */
  async applyDeltas(sql: Sql, deltas: readonly RollupDelta[]): Promise<void> {
    if (deltas.length === 0) return;
    const rows = await sql.query<{ id: string; emptied: boolean }>(
      `INSERT INTO attribution_daily AS r
         (model, day, event_type, source, medium, campaign, currency, conversions, value_micros, valued)
       SELECT * FROM json_to_recordset(?::json) AS d(model text, day date, event_type text, source text,
         medium text, campaign text, currency text, conversions bigint, value_micros numeric, valued int)
       ON CONFLICT (model, day, event_type, md5(source), md5(medium), md5(campaign), currency) DO UPDATE
       SET conversions = r.conversions + excluded.conversions,
           value_micros = r.value_micros + excluded.value_micros,
           valued = r.valued + excluded.valued
       RETURNING r.id, r.conversions = 0 AND r.value_micros = 0 AND r.valued = 0 AS emptied`,
      [JSON.stringify(deltas)],
    );
    const emptied = rows.filter((row) => row.emptied).map((row) => row.id);
    if (emptied.length === 0) return;
    await sql.query(
      `DELETE FROM attribution_daily
       WHERE id IN (SELECT id::bigint FROM json_array_elements_text(?::json) AS ids(id))`,
      [JSON.stringify(emptied)],
    );
  }

  async fingerprint(sql: Sql): Promise<string | undefined> {
    const rows = await sql.query<{ fingerprint: string }>(
      'SELECT fingerprint FROM attribution_state WHERE id = 1',
    );
    return rows[0]?.fingerprint;
  }

  /** Forgets all credit and marks every identity, so the refresher recomputes everything. */
  async restart(sql: Sql, fingerprint: string): Promise<void> {
    // Every track statement adds marks: theirs are deleted, not truncated, so no write waits.
    await sql.query('DELETE FROM attribution_marks');
    // Marking every subject reads every event: minutes on a large database (the caller
    // runs it in a transaction without time limits).
    await sql.query(
      `INSERT INTO attribution_marks (kind, identity, since)
       SELECT 'u', user_id, '-infinity'::timestamptz FROM events WHERE user_id IS NOT NULL AND NOT is_bot GROUP BY user_id
       UNION ALL
       SELECT 'v', visitor_id, '-infinity' FROM events WHERE user_id IS NULL AND NOT is_bot GROUP BY visitor_id`,
    );
    // Last, so that rollup reports (which read these two) wait on its exclusive lock for
    // milliseconds, not for the marking.
    await sql.query('TRUNCATE attribution_daily, conversion_credits');
    await sql.query(
      `INSERT INTO attribution_state (id, fingerprint) VALUES (1, ?)
       ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint`,
      [fingerprint],
    );
  }

  /** Whether at least `count` marks wait, without counting them all. */
  async backlogAtLeast(sql: Sql, count: number): Promise<boolean> {
    const rows = await sql.query<{ enough: boolean }>(
      'SELECT count(*) >= ? AS enough FROM (SELECT 1 FROM attribution_marks LIMIT ?) m',
      [count, count],
    );
    return rows[0]?.enough ?? false;
  }
}
