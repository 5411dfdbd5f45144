import { Injectable } from '@nestjs/common';
import { Sql } from '../persistence/database';

/** Lets one replica at a time compare and record (the others then find it done). */
const STAGES_LOCK = "hashtext('conversion-tracking:funnel-stages')";

/** A funnel's stages by name, with their position. */
export type StagePositions = Map<string, number>;

/** Each funnel's stages as last applied (`funnel_stages`). */
@Injectable()
export class FunnelStagesRepository {
  async lock(sql: Sql): Promise<void> {
    await sql.query(`SELECT pg_advisory_xact_lock(${STAGES_LOCK})`);
  }

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
