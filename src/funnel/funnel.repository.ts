import { Injectable } from '@nestjs/common';
import { Sql } from '../persistence/database';
import { MARK_FOR_ATTRIBUTION } from '../reporting/rollup/mark-for-attribution.sql';
import { FunnelUpdateDto } from './dto/funnel-update.dto';
import { FUNNEL_UPDATES_BY_EVENT, advanceFunnelsCtes, targetsJson } from './funnel-advance.sql';
import { StageRef } from './funnel-catalog';
import { Subject, subjectLockKey } from './subject';

export interface AdvanceCause {
  eventId: string;
  /** Null for an explicit update. */
  eventType: string | null;
  occurredAt: Date;
}

/**
 * Funnel state in SQL. Every write runs inside the caller's transaction after
 * `lockSubject`, a transaction-scoped advisory lock (safe behind a transaction-mode
 * pooler), so concurrent updates for one subject apply one at a time, on any replica.
 */
@Injectable()
export class FunnelRepository {
  async lockSubject(sql: Sql, subject: Subject): Promise<void> {
    await sql.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [
      subjectLockKey(subject),
    ]);
  }

  /**
   * Links a visitor to a user, as an event carrying both ids does, marking the visitor's
   * events for the attribution refresher; true when the link is new.
   */
  async link(sql: Sql, visitorId: string, userId: string): Promise<boolean> {
    const rows = await sql.query<{ linked: number }>(
      `WITH linked AS (
         INSERT INTO identity_links (visitor_id, user_id) VALUES (?, ?)
         ON CONFLICT DO NOTHING
         RETURNING visitor_id
       ), inserted AS (
         SELECT NULL::text AS user_id, NULL::text AS visitor_id, NULL::timestamptz AS occurred_at,
                false AS is_bot
         WHERE false
       ), marked AS (${MARK_FOR_ATTRIBUTION})
       SELECT count(*)::int AS linked FROM linked`,
      [visitorId, userId],
    );
    return rows[0]?.linked === 1;
  }

  /** The user a visitor was most recently linked to, if any. */
  async linkedUser(sql: Sql, visitorId: string): Promise<string | undefined> {
    const rows = await sql.query<{ user_id: string }>(
      'SELECT user_id FROM identity_links WHERE visitor_id = ? ORDER BY linked_at DESC, user_id LIMIT 1',
      [visitorId],
    );
    return rows[0]?.user_id;
  }

  /** Moves the subject towards each target that lies ahead of its current stage (forward-only, race-safe). */
  async advance(
    sql: Sql,
    {
      subject,
      targets,
      cause,
    }: { subject: Subject; targets: readonly StageRef[]; cause: AdvanceCause },
  ): Promise<FunnelUpdateDto[]> {
    const rows = await sql.query<{ funnel_updates: FunnelUpdateDto[] }>(
      `WITH subject AS (
         SELECT ?::text AS event_id, ?::text AS subject_type, ?::text AS subject_id,
                ?::text AS event_type, ?::timestamptz AS occurred_at
       ),${advanceFunnelsCtes(
         'SELECT s.event_id, t.* FROM subject s CROSS JOIN json_to_recordset(?::json) AS t(funnel text, stage text, stage_index int)',
       )}
       ${FUNNEL_UPDATES_BY_EVENT}`,
      [
        cause.eventId,
        subject.type,
        subject.id,
        cause.eventType,
        cause.occurredAt,
        JSON.stringify(targetsJson(targets)),
      ],
    );
    return rows[0]?.funnel_updates ?? [];
  }

  /**
   * Carries a visitor's progress over to the user it was linked to: furthest stage,
   * earliest first-reached times, and its history, then forgets the visitor's rows so
   * reports count the person once.
   */
  async mergeVisitorIntoUser(sql: Sql, visitorId: string, userId: string): Promise<void> {
    const params = [visitorId, userId];
    await sql.query(
      `WITH moved AS (
         DELETE FROM funnel_progress WHERE subject_type = 'visitor' AND subject_id = ? RETURNING *
       )
       INSERT INTO funnel_progress (funnel, subject_type, subject_id, stage_index, stage, entered_at, updated_at)
       SELECT funnel, 'user', ?, stage_index, stage, entered_at, now() FROM moved
       ON CONFLICT (funnel, subject_type, subject_id) DO UPDATE SET
         stage = CASE WHEN excluded.stage_index > funnel_progress.stage_index THEN excluded.stage ELSE funnel_progress.stage END,
         stage_index = GREATEST(funnel_progress.stage_index, excluded.stage_index),
         entered_at = LEAST(funnel_progress.entered_at, excluded.entered_at),
         updated_at = now()`,
      params,
    );
    await sql.query(
      `WITH moved AS (
         DELETE FROM funnel_stage_reached WHERE subject_type = 'visitor' AND subject_id = ? RETURNING *
       )
       INSERT INTO funnel_stage_reached (funnel, subject_type, subject_id, stage, stage_index, reached_at, event_id)
       SELECT funnel, 'user', ?, stage, stage_index, reached_at, event_id FROM moved
       ON CONFLICT (funnel, subject_type, subject_id, stage) DO UPDATE SET
         event_id = CASE WHEN excluded.reached_at < funnel_stage_reached.reached_at THEN excluded.event_id ELSE funnel_stage_reached.event_id END,
         reached_at = LEAST(funnel_stage_reached.reached_at, excluded.reached_at)`,
      params,
    );
    await sql.query(
      `UPDATE funnel_transitions SET subject_type = 'user', subject_id = ? WHERE subject_type = 'visitor' AND subject_id = ?`,
      [userId, visitorId],
    );
  }

  /** In a linking transaction: the visitor is merged again once no snapshot that missed the link is left. */
  async recordLinkMerge(sql: Sql, visitorId: string, userId: string): Promise<void> {
    // Rewriting the row on conflict makes this transaction its xmin, which dueLinkMerges reads.
    await sql.query(
      `INSERT INTO funnel_link_merges (visitor_id, user_id) VALUES (?, ?)
       ON CONFLICT (visitor_id, user_id) DO UPDATE SET user_id = excluded.user_id`,
      [visitorId, userId],
    );
  }

  /**
   * Recorded merges that no statement can still race. A snapshot taken before the
   * linking transaction committed has an xmin at or before that transaction's id (the
   * record's xmin); while any session of this database holds one, the record waits.
   * Exact, with no timeout assumed. PostgreSQL shows a session's xmin only to its own
   * role (or to pg_read_all_stats): replicas logging in as different roles need that grant.
   */
  async dueLinkMerges(sql: Sql, limit: number): Promise<RecordedLinkMerge[]> {
    return sql.query<RecordedLinkMerge>(
      `SELECT visitor_id, user_id, xmin::text AS record_xid FROM funnel_link_merges m
       WHERE NOT EXISTS (
         SELECT 1 FROM pg_stat_activity a
         WHERE a.datname = current_database() AND a.backend_type = 'client backend'
           AND a.pid <> pg_backend_pid() AND a.backend_xmin IS NOT NULL
           AND age(a.backend_xmin) >= age(m.xmin)
       )
       LIMIT ?`,
      [limit],
    );
  }

  /**
   * Takes a recorded merge, unless another replica took it or it was recorded again since.
   * One another replica is taking right now is skipped rather than waited for: replicas
   * read the same due merges, and would otherwise go through them in step.
   */
  async claimLinkMerge(sql: Sql, merge: RecordedLinkMerge): Promise<boolean> {
    const rows = await sql.query(
      `DELETE FROM funnel_link_merges
       WHERE (visitor_id, user_id) IN (
         SELECT visitor_id, user_id FROM funnel_link_merges
         WHERE visitor_id = ? AND user_id = ? AND xmin = ?::xid
         FOR UPDATE SKIP LOCKED)
       RETURNING visitor_id`,
      [merge.visitor_id, merge.user_id, merge.record_xid],
    );
    return rows.length > 0;
  }
}

export interface RecordedLinkMerge {
  visitor_id: string;
  user_id: string;
  /** The id of the transaction that recorded it (the row's xmin). */
  record_xid: string;
}
