import { Injectable } from '@nestjs/common';
import { Sql } from '../persistence/database';

/** Lets one replica at a time compare and record (the others then find it done). */
const STAGES_LOCK = "hashtext('conversion-tracking:funnel-stages')";

/** Each funnel's stages as last applied (`funnel_stages`). */
@Injectable()
export class FunnelStagesRepository {
  async lock(sql: Sql): Promise<void> {
    await sql.query(`SELECT pg_advisory_xact_lock(${STAGES_LOCK})`);
  }

  /** Each funnel's stage names, in order. */
  async applied(sql: Sql): Promise<Map<string, string[]>> {
    const rows = await sql.query<{ funnel: string; stage: string }>(
      'SELECT funnel, stage FROM funnel_stages ORDER BY funnel, stage_index',
    );
    const funnels = new Map<string, string[]>();
    for (const row of rows)
      funnels.set(row.funnel, [...(funnels.get(row.funnel) ?? []), row.stage]);
    return funnels;
  }

  /**
   * Whether any subject has reached position `index` of the funnel or beyond (progress
   * keeps the furthest position reached). May read the funnel's whole progress.
   */
  async hasProgressFrom(sql: Sql, funnel: string, index: number): Promise<boolean> {
    const rows = await sql.query<{ found: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM funnel_progress WHERE funnel = ? AND stage_index >= ?) AS found',
      [funnel, index],
    );
    return rows[0]?.found === true;
  }

  /**
   * Gives the stored rows of `funnel` their stage's position in `stages`, by name; forgets
   * stages reached that are gone; puts each subject at the furthest stage it has reached
   * in the new order, and drops the progress of subjects left with none. Returns how many
   * subjects were moved and dropped. Progress is locked against writes first, as a table:
   * funnel writes and link merges lock progress rows in an order of their own (a visitor's
   * then a user's), which a row-by-row lock here could meet the other way round.
   */
  async renumber(
    sql: Sql,
    funnel: string,
    stages: readonly string[],
  ): Promise<{ moved: number; dropped: number }> {
    const positions = JSON.stringify(stages.map((stage, index) => ({ stage, index })));
    const names = JSON.stringify(stages);
    await sql.query('LOCK TABLE funnel_progress IN SHARE ROW EXCLUSIVE MODE');
    for (const table of ['funnel_progress', 'funnel_stage_reached']) {
      await sql.query(
        `UPDATE ${table} t SET stage_index = m.index
         FROM json_to_recordset(?::json) AS m(stage text, index int)
         WHERE t.funnel = ? AND t.stage = m.stage AND t.stage_index <> m.index`,
        [positions, funnel],
      );
    }
    await sql.query(
      `DELETE FROM funnel_stage_reached
       WHERE funnel = ? AND stage NOT IN (SELECT json_array_elements_text(?::json))`,
      [funnel, names],
    );
    // A subject entered the funnel when it first reached a stage that is still there.
    await sql.query(
      `UPDATE funnel_progress p SET entered_at = r.first
       FROM (SELECT subject_type, subject_id, min(reached_at) AS first
             FROM funnel_stage_reached WHERE funnel = ? GROUP BY subject_type, subject_id) r
       WHERE p.funnel = ? AND p.subject_type = r.subject_type AND p.subject_id = r.subject_id
         AND p.entered_at < r.first`,
      [funnel, funnel],
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
           AND (p.stage NOT IN (SELECT json_array_elements_text(?::json)) OR f.stage_index > p.stage_index)
         RETURNING 1
       ) SELECT count(*)::int AS n FROM moved`,
      [funnel, funnel, names],
    );
    const [dropped] = await sql.query<{ n: number }>(
      `WITH dropped AS (
         DELETE FROM funnel_progress
         WHERE funnel = ? AND stage NOT IN (SELECT json_array_elements_text(?::json))
         RETURNING 1
       ) SELECT count(*)::int AS n FROM dropped`,
      [funnel, names],
    );
    return { moved: moved.n, dropped: dropped.n };
  }

  /** Stores `stages` as the funnel's applied definition. */
  async record(sql: Sql, funnel: string, stages: readonly string[]): Promise<void> {
    await sql.query('DELETE FROM funnel_stages WHERE funnel = ?', [funnel]);
    await sql.query(
      `INSERT INTO funnel_stages (funnel, stage, stage_index)
       SELECT ?, stage, index - 1 FROM json_array_elements_text(?::json) WITH ORDINALITY AS m(stage, index)`,
      [funnel, JSON.stringify(stages)],
    );
  }
}
