import { Injectable } from '@nestjs/common';
import { Sql } from '../persistence/database';

/** Lets one replica at a time compare and renumber (the others then find it done). */
const STAGES_LOCK = "hashtext('conversion-tracking:funnel-stages')";

/** A funnel's stages by name, with their position. */
export type StagePositions = Map<string, number>;

/**
 * The SQL that keeps stored funnel progress numbered as the current definitions are.
 * Progress and stages reached store a stage's name and its position; only the positions
 * change here (the names, and the history of transitions, stay as they were).
 */
@Injectable()
export class FunnelStagesRepository {
  /** For the rest of the transaction; no statement timeout: renumbering reads whole tables. */
  async lock(sql: Sql): Promise<void> {
    await sql.query('SET LOCAL statement_timeout = 0');
    await sql.query(`SELECT pg_advisory_xact_lock(${STAGES_LOCK})`);
  }

  /** The stages each funnel had when last applied. */
  async applied(sql: Sql): Promise<Map<string, StagePositions>> {
    const rows = await sql.query<{ funnel: string; stage: string; stage_index: number }>(
      'SELECT funnel, stage, stage_index FROM funnel_stages',
    );
    const funnels = new Map<string, StagePositions>();
    for (const row of rows) {
      const stages = funnels.get(row.funnel) ?? new Map<string, number>();
      stages.set(row.stage, row.stage_index);
      funnels.set(row.funnel, stages);
    }
    return funnels;
  }

  /**
   * Gives stored rows of `funnel` their stage's new position; forgets stages reached that
   * no longer exist; moves each subject to the furthest stage it has reached in the new
   * order, and drops the progress of those left with none. Returns the progress rows moved
   * and dropped.
   */
  async renumber(
    sql: Sql,
    funnel: string,
    stages: StagePositions,
    removed: readonly string[],
  ): Promise<{ moved: number; dropped: number }> {
    const positions = JSON.stringify([...stages].map(([stage, index]) => ({ stage, index })));
    for (const table of ['funnel_stage_reached', 'funnel_progress']) {
      await sql.query(
        `UPDATE ${table} t SET stage_index = m.index
         FROM json_to_recordset(?::json) AS m(stage text, index int)
         WHERE t.funnel = ? AND t.stage = m.stage AND t.stage_index <> m.index`,
        [positions, funnel],
      );
    }
    const removedJson = JSON.stringify(removed);
    await sql.query(
      `DELETE FROM funnel_stage_reached
       WHERE funnel = ? AND stage IN (SELECT json_array_elements_text(?::json))`,
      [funnel, removedJson],
    );
    const [moved] = await sql.query<{ n: number }>(
      `WITH furthest AS (
         SELECT DISTINCT ON (subject_type, subject_id) subject_type, subject_id, stage, stage_index
         FROM funnel_stage_reached WHERE funnel = ?
         ORDER BY subject_type, subject_id, stage_index DESC
       ), moved AS (
         UPDATE funnel_progress p SET stage = f.stage, stage_index = f.stage_index, updated_at = now()
         FROM furthest f
         WHERE p.funnel = ? AND p.subject_type = f.subject_type AND p.subject_id = f.subject_id
           AND (p.stage IN (SELECT json_array_elements_text(?::json)) OR f.stage_index > p.stage_index)
         RETURNING 1
       ) SELECT count(*)::int AS n FROM moved`,
      [funnel, funnel, removedJson],
    );
    const [dropped] = await sql.query<{ n: number }>(
      `WITH dropped AS (
         DELETE FROM funnel_progress
         WHERE funnel = ? AND stage IN (SELECT json_array_elements_text(?::json))
         RETURNING 1
       ) SELECT count(*)::int AS n FROM dropped`,
      [funnel, removedJson],
    );
    return { moved: moved.n, dropped: dropped.n };
  }

  /** Stores `stages` as the funnel's applied definition. */
  async record(sql: Sql, funnel: string, stages: StagePositions): Promise<void> {
    await sql.query('DELETE FROM funnel_stages WHERE funnel = ?', [funnel]);
    await sql.query(
      `INSERT INTO funnel_stages (funnel, stage, stage_index)
       SELECT ?, m.stage, m.index FROM json_to_recordset(?::json) AS m(stage text, index int)`,
      [funnel, JSON.stringify([...stages].map(([stage, index]) => ({ stage, index })))],
    );
  }
}
