/**
 * SQL that advances funnels for one or many events at once. It expects a CTE named
 * `subject` (event_id, subject_type, subject_id, event_type, occurred_at) and takes the
 * target stages as a query yielding (event_id, funnel, stage, stage_index).
 *
 * Forward-only by construction: the upsert changes a row only when the target lies
 * ahead (`WHERE p.stage_index < excluded.stage_index`), and PostgreSQL re-checks that
 * condition on the latest row version under the row lock, so concurrent statements for
 * one subject apply one at a time and never move back. One statement may move a
 * (funnel, subject) row only once: two events of one subject that both lie ahead of its
 * stage make PostgreSQL refuse the statement (21000). Callers keep a visitor's or a
 * user's events apart; a linked visitor's beside its user's can still meet in one
 * statement, which then fails and is retried one event at a time (see EventBatcher).
 *
 * Every stage an event meets is recorded with the earliest time it was met, whether or
 * not it moves the funnel, so the order events arrive in does not change when each stage
 * was first reached, nor when the subject entered the funnel.
 *
 * Defines CTEs `targets`, `current_progress`, `entry`, `advanced`, `moved_by`, `reached`,
 * `backdated`, `moved`;
 * `FUNNEL_UPDATES_BY_EVENT` renders the outcome of every target per event as JSON.
 */
export function advanceFunnelsCtes(targetsQuery: string): string {
  return `
  targets AS (${targetsQuery}),
  current_progress AS (
    SELECT t.event_id, p.funnel, p.stage, p.stage_index, p.entered_at
    FROM targets t JOIN subject s USING (event_id)
    CROSS JOIN LATERAL (
      SELECT funnel, stage, stage_index, entered_at FROM funnel_progress p
      WHERE p.funnel = t.funnel AND p.subject_type = s.subject_type AND p.subject_id = s.subject_id
      LIMIT 1 -- keeps it a probe of the primary key: a plan cached while the table was small would scan it
    ) p
  ), entry AS (
    -- Per funnel and subject: the earliest time this statement's events met it, the
    -- furthest stage they target (what a row that backdated creates would hold), the entry
    -- time the snapshot shows, and whether the snapshot had one of them move it.
    SELECT t.funnel, s.subject_type, s.subject_id, min(s.occurred_at) AS entered_at,
           max(t.stage_index) AS stage_index, (array_agg(t.stage ORDER BY t.stage_index DESC))[1] AS stage,
           min(c.entered_at) AS known_entry,
           bool_or(c.stage_index IS NULL OR c.stage_index < t.stage_index) AS expected_to_move
    FROM targets t JOIN subject s USING (event_id)
    LEFT JOIN current_progress c ON c.event_id = t.event_id AND c.funnel = t.funnel
    GROUP BY t.funnel, s.subject_type, s.subject_id
  ), advanced AS (
    INSERT INTO funnel_progress AS p (funnel, subject_type, subject_id, stage_index, stage, previous_stage, entered_at, updated_at)
    SELECT t.funnel, s.subject_type, s.subject_id, t.stage_index, t.stage, NULL, e.entered_at, now()
    FROM targets t JOIN subject s USING (event_id)
    JOIN entry e ON e.funnel = t.funnel AND e.subject_type = s.subject_type AND e.subject_id = s.subject_id
    LEFT JOIN current_progress c ON c.event_id = t.event_id AND c.funnel = t.funnel
    -- Already at or past the target in this snapshot: stages only move forward, so it stays a
    -- no-op whatever commits meanwhile; skipping it spares the row lock the upsert would write.
    WHERE c.stage_index IS NULL OR c.stage_index < t.stage_index
    ON CONFLICT (funnel, subject_type, subject_id) DO UPDATE
      SET previous_stage = p.stage, stage_index = excluded.stage_index, stage = excluded.stage,
          entered_at = LEAST(p.entered_at, excluded.entered_at), updated_at = now()
      WHERE p.stage_index < excluded.stage_index
    RETURNING p.funnel, p.subject_type, p.subject_id, p.stage, p.stage_index, p.previous_stage
  ), moved_by AS (
    -- The event whose target moved this funnel. A group may hold other events that resolve
    -- to the same subject (a linked visitor's beside its user's), at or behind its stage: they
    -- moved nothing. Two targeting the moved-to stage would both have been upserted, which
    -- PostgreSQL refuses within one statement, so at most one event matches.
    SELECT a.*, s.event_id, s.event_type, s.occurred_at
    FROM advanced a
    JOIN subject s ON s.subject_type = a.subject_type AND s.subject_id = a.subject_id
    JOIN targets t ON t.event_id = s.event_id AND t.funnel = a.funnel AND t.stage_index = a.stage_index
  ), reached AS (
    -- Every stage an event meets, moving the funnel or not: an event that arrives after a
    -- later stage's (a batch, a retry, an offline client) still tells when its stage was
    -- first reached. Written only when it is new or earlier, so a repeat takes no row lock.
    INSERT INTO funnel_stage_reached AS r (funnel, subject_type, subject_id, stage, stage_index, reached_at, event_id)
    SELECT t.funnel, s.subject_type, s.subject_id, t.stage, t.stage_index, s.occurred_at, s.event_id
    FROM targets t JOIN subject s USING (event_id)
    LEFT JOIN LATERAL (
      SELECT reached_at FROM funnel_stage_reached e
      WHERE e.funnel = t.funnel AND e.subject_type = s.subject_type AND e.subject_id = s.subject_id
        AND e.stage = t.stage
      LIMIT 1 -- a probe of the primary key, as above
    ) e ON true
    WHERE e.reached_at IS NULL OR e.reached_at > s.occurred_at
    ON CONFLICT (funnel, subject_type, subject_id, stage) DO UPDATE
      SET reached_at = excluded.reached_at, event_id = excluded.event_id
      WHERE excluded.reached_at < r.reached_at
  ), backdated AS (
    -- What nothing above moved, when the snapshot cannot rule out that it needs its entry
    -- moved back (a stage met before the subject was thought to have entered), or when an
    -- event was to move it and did not: a statement for the same subject that committed
    -- after this snapshot (another replica, the linking path) moved it at least as far.
    -- The upsert reads the row as it is now, so its entry becomes the earliest of both
    -- and RETURNING tells where it stands, for the answer. Outside such races it writes
    -- only entries that move back. An upsert, so the row is found by its key whatever
    -- plan was cached (an UPDATE joining funnel_progress would scan it once the plan was
    -- made while it was small).
    INSERT INTO funnel_progress AS p (funnel, subject_type, subject_id, stage_index, stage, previous_stage, entered_at, updated_at)
    SELECT e.funnel, e.subject_type, e.subject_id, e.stage_index, e.stage, NULL, e.entered_at, now()
    FROM entry e
    WHERE (e.expected_to_move OR e.known_entry > e.entered_at)
      AND NOT EXISTS (
        SELECT FROM advanced a
        WHERE a.funnel = e.funnel AND a.subject_type = e.subject_type AND a.subject_id = e.subject_id)
    ON CONFLICT (funnel, subject_type, subject_id) DO UPDATE
      SET entered_at = LEAST(p.entered_at, excluded.entered_at), updated_at = now()
    RETURNING p.funnel, p.subject_type, p.subject_id, p.stage
  ), moved AS (
    INSERT INTO funnel_transitions (funnel, subject_type, subject_id, from_stage, to_stage, cause_event_id, cause_event_type, occurred_at)
    SELECT funnel, subject_type, subject_id, previous_stage, stage, event_id, event_type, occurred_at FROM moved_by
  )`;
}

/**
 * Per event: every target's outcome, the stage before being the moved-from or the
 * unchanged current one (as the row stands now when backdated read it, else as the
 * snapshot shows it).
 */
export const FUNNEL_UPDATES_BY_EVENT = `
  SELECT t.event_id, json_agg(json_build_object(
      'funnel', t.funnel, 'stage', t.stage,
      'previous_stage', CASE WHEN m.funnel IS NOT NULL THEN m.previous_stage ELSE coalesce(b.stage, c.stage) END,
      'advanced', m.funnel IS NOT NULL
    ) ORDER BY t.funnel) AS funnel_updates
  FROM targets t JOIN subject s USING (event_id)
  LEFT JOIN moved_by m ON m.event_id = t.event_id AND m.funnel = t.funnel
  LEFT JOIN current_progress c ON c.event_id = t.event_id AND c.funnel = t.funnel
  LEFT JOIN backdated b ON b.funnel = t.funnel AND b.subject_type = s.subject_type AND b.subject_id = s.subject_id
  GROUP BY t.event_id`;

export interface TargetStage {
  funnel: string;
  stage: string;
  stageIndex: number;
}

/** Targets as the JSON the SQL reads with json_to_recordset. */
export function targetsJson(
  targets: readonly TargetStage[],
): { funnel: string; stage: string; stage_index: number }[] {
  return targets.map((t) => ({ funnel: t.funnel, stage: t.stage, stage_index: t.stageIndex }));
}
