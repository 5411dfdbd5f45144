import { Injectable } from '@nestjs/common';
import { Sql } from '../persistence/database';

/** Rows looked at per statement: each is a short transaction on its own. */
const ROWS_PER_PASS = 5_000;

/**
 * A table of state derived from events, walked in its primary key's order (so a whole
 * walk reads each row once, without an index of its own), and what makes a row expired
 * (`?` is the horizon: no event before it is kept).
 */
interface DerivedTable {
  key: readonly string[];
  expired: string;
  /** More data-modifying CTEs run with the deletion, reading its rows as `gone`. */
  alsoDelete?: string;
  /** How many rows `alsoDelete` removed, as an expression over its CTEs. */
  alsoDeleted?: string;
}

/** In walk order: the funnel state first, since the links' condition reads it. */
export const DERIVED_TABLE_NAMES = [
  'funnel_transitions',
  'funnel_progress',
  'funnel_update_requests',
  'identity_links',
] as const;

export type DerivedTableName = (typeof DERIVED_TABLE_NAMES)[number];

const DERIVED_TABLES: Record<DerivedTableName, DerivedTable> = {
  funnel_transitions: { key: ['id'], expired: 't.occurred_at < ?' },
  // A subject's place in a funnel goes once no event is left that moves it (a user's own,
  // or its linked visitors' anonymous ones) and it reached no stage since the horizon (an
  // explicit update moves it without an event), with its stages.
  funnel_progress: {
    key: ['funnel', 'subject_type', 'subject_id'],
    expired: `NOT EXISTS (SELECT 1 FROM funnel_stage_reached r
                          WHERE r.funnel = t.funnel AND r.subject_type = t.subject_type
                            AND r.subject_id = t.subject_id AND r.reached_at >= ?)
              AND CASE t.subject_type
                    WHEN 'user' THEN
                      NOT EXISTS (SELECT 1 FROM events e WHERE e.user_id = t.subject_id)
                      AND NOT EXISTS (SELECT 1 FROM identity_links l
                                      JOIN events e ON e.visitor_id = l.visitor_id AND e.user_id IS NULL
                                      WHERE l.user_id = t.subject_id)
                    ELSE NOT EXISTS (SELECT 1 FROM events e
                                     WHERE e.visitor_id = t.subject_id AND e.user_id IS NULL)
                  END`,
    alsoDelete: `, reached AS (
      DELETE FROM funnel_stage_reached r USING gone g
      WHERE r.funnel = g.funnel AND r.subject_type = g.subject_type AND r.subject_id = g.subject_id
      RETURNING 1)`,
    alsoDeleted: '(SELECT count(*) FROM reached)',
  },
  // Kept as long as the event key they answer for would be: received before the horizon.
  funnel_update_requests: {
    key: ['event_id'],
    expired: 't.created_at < ?',
  },
  // A visitor's links go together, once none was made since the horizon (`linked_at` is
  // never renewed) and neither the visitor (anonymous) nor any of its users has an event or
  // a funnel place left: an older link kept alone would hand the visitor to another user.
  // (A user's events with this visitor alone would be exact, but no index finds them: a
  // user with many events made each probe read them all.) The probes sit under OR so that each stays a correlated index probe:
  // as joins, the planner read a whole index per row.
  identity_links: {
    key: ['visitor_id', 'user_id'],
    expired: `NOT EXISTS (SELECT 1 FROM identity_links n
                          WHERE n.visitor_id = t.visitor_id
                            AND (n.linked_at >= ?
                                 OR EXISTS (SELECT 1 FROM events e WHERE e.user_id = n.user_id)
                                 OR EXISTS (SELECT 1 FROM funnel_progress p
                                            WHERE p.subject_type = 'user' AND p.subject_id = n.user_id)))
              AND NOT EXISTS (SELECT 1 FROM events e WHERE e.visitor_id = t.visitor_id AND e.user_id IS NULL)`,
  },
};

/** Where a walk stopped: the last key looked at, as text; null before the first pass. */
export type WalkPosition = readonly string[] | null;

/** State derived from events that EVENT_RETENTION_DAYS removes with them. */
@Injectable()
export class DerivedStateRepository {
  /** The horizon a finished walk reached; null before the first. */
  async prunedBefore(sql: Sql): Promise<Date | null> {
    const [row] = await sql.query<{ before: Date }>(
      'SELECT derived_pruned_before AS before FROM retention_state WHERE id = 1',
    );
    return row ? new Date(row.before) : null;
  }

  async markPruned(sql: Sql, horizon: Date): Promise<void> {
    await sql.query(
      `INSERT INTO retention_state (id, derived_pruned_before) VALUES (1, ?)
       ON CONFLICT (id) DO UPDATE SET derived_pruned_before =
         greatest(retention_state.derived_pruned_before, excluded.derived_pruned_before)`,
      [horizon],
    );
  }

  /**
   * Deletes the expired rows among the next `rows` of `name` after `after`, in the
   * caller's transaction. Returns how many it deleted and where to go on from (null: the
   * walk is done).
   */
  async prunePass(
    sql: Sql,
    name: DerivedTableName,
    horizon: Date,
    after: WalkPosition,
    rows = ROWS_PER_PASS,
  ): Promise<{ deleted: number; next: WalkPosition }> {
    const { key, expired, alsoDelete = '', alsoDeleted = '0' } = DERIVED_TABLES[name];
    const table = name;
    const keys = key.join(', ');
    const from = after === null ? '' : `WHERE (${keys}) > (${key.map(() => '?').join(', ')})`;
    // Every step is an index probe. The planner, judging by statistics, may scan instead:
    // where one account holds most of a month's signed-in events, each probe for a user
    // read the month's partition (35 s for a batch). Scans are its last resort here.
    await sql.query('SET LOCAL enable_seqscan = off');
    // The deletion finds the batch's rows by their place (a TID scan): joined by key, the
    // planner may read the whole table for every batch.
    const [row] = await sql.query<{ last: string[] | null; deleted: number; seen: number }>(
      `WITH batch AS (
         SELECT ctid, ${keys} FROM ${table} ${from} ORDER BY ${keys} LIMIT ${Math.trunc(rows)}
       ), gone AS (
         DELETE FROM ${table} t WHERE t.ctid = ANY(ARRAY(SELECT ctid FROM batch)) AND ${expired}
         RETURNING t.*
       )${alsoDelete}
       SELECT (SELECT json_build_array(${key.map((column) => `${column}::text`).join(', ')})
               FROM batch ORDER BY ${key.map((column) => `${column} DESC`).join(', ')} LIMIT 1) AS last,
              ((SELECT count(*) FROM gone) + ${alsoDeleted})::int AS deleted,
              (SELECT count(*) FROM batch)::int AS seen`,
      [...(after ?? []), horizon],
    );
    return { deleted: row.deleted, next: row.seen < rows ? null : row.last };
  }
}
