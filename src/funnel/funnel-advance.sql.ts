/**
 * SQL that advances funnels from a CTE named `subject` (subject_type, subject_id,
 * event_id, event_type, occurred_at) towards target stages given as a JSON array
 * of {funnel, stage, stage_index} (JSON, so one text parameter works with any driver). It is forward-only by construction: the upsert changes a row only when the
 * target lies ahead (`WHERE p.stage_index < excluded.stage_index`), and PostgreSQL
 * re-checks that condition on the latest row version under the row lock, so
 * concurrent statements for one subject apply one at a time and never move back.
 * Composed into the tracking statement so an event and its funnel moves are one
 * statement: one round trip, atomic without an explicit transaction.
 *
 * Defines CTEs `targets`, `advanced`, `reached`, `moved`; `funnelUpdatesJson` renders
 * the outcome for every target as a JSON array.
 */
export function advanceFunnelsCtes(targetsJson: string): string {
  return `
  targets AS (
    SELECT * FROM json_to_recordset(${targetsJson}::json) AS t(funnel text, stage text, stage_index int)
  ), current_progress AS (
    SELECT p.funnel, p.stage FROM targets t CROSS JOIN subject s
    JOIN funnel_progress p ON p.funnel = t.funnel AND p.subject_type = s.subject_type AND p.subject_id = s.subject_id
  ), advanced AS (
    INSERT INTO funnel_progress AS p (funnel, subject_type, subject_id, stage_index, stage, previous_stage, entered_at, updated_at)
    SELECT t.funnel, s.subject_type, s.subject_id, t.stage_index, t.stage, NULL, s.occurred_at, now()
    FROM subject s CROSS JOIN targets t
    ON CONFLICT (funnel, subject_type, subject_id) DO UPDATE
      SET previous_stage = p.stage, stage_index = excluded.stage_index, stage = excluded.stage,
          entered_at = LEAST(p.entered_at, excluded.entered_at), updated_at = now()
      WHERE p.stage_index < excluded.stage_index
    RETURNING p.funnel, p.subject_type, p.subject_id, p.stage, p.stage_index, p.previous_stage
  ), reached AS (
    INSERT INTO funnel_stage_reached (funnel, subject_type, subject_id, stage, stage_index, reached_at, event_id)
    SELECT a.funnel, a.subject_type, a.subject_id, a.stage, a.stage_index, s.occurred_at, s.event_id
    FROM advanced a CROSS JOIN subject s
    ON CONFLICT DO NOTHING
  ), moved AS (
    INSERT INTO funnel_transitions (funnel, subject_type, subject_id, from_stage, to_stage, cause_event_id, cause_event_type, occurred_at)
    SELECT a.funnel, a.subject_type, a.subject_id, a.previous_stage, a.stage, s.event_id, s.event_type, s.occurred_at
    FROM advanced a CROSS JOIN subject s
  )`;
}

/** Per target: advanced, and the stage before (the moved-from stage, or the unchanged current one). */
export const funnelUpdatesJson = `
  (SELECT coalesce(json_agg(json_build_object(
      'funnel', t.funnel, 'stage', t.stage,
      'previous_stage', CASE WHEN a.funnel IS NOT NULL THEN a.previous_stage ELSE c.stage END,
      'advanced', a.funnel IS NOT NULL
    ) ORDER BY t.funnel), '[]'::json)
   FROM targets t
   LEFT JOIN advanced a ON a.funnel = t.funnel
   LEFT JOIN current_progress c ON c.funnel = t.funnel)`;

export function targetsJson(
  targets: readonly { funnel: string; stage: string; stageIndex: number }[],
): string {
  return JSON.stringify(
    targets.map((t) => ({ funnel: t.funnel, stage: t.stage, stage_index: t.stageIndex })),
  );
}
