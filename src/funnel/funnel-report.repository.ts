import { Injectable } from '@nestjs/common';
import { localDaysParams, onLocalDays } from '../common/local-days.sql';
import { DateRange } from '../common/validation/date-range';
import { Sql } from '../persistence/database';
import { InjectReportDatabase } from '../persistence/report-database';
import { StageCount } from './funnel-report';

/**
 * Counts, per stage, the subjects that entered the funnel within the range (their
 * first stage reached on a day of the range, in the report time zone) and reached that
 * stage or a later one. A subject's time at stage i is the first time it reached stage
 * i or beyond, so a skipped stage counts as passed at the moment it was skipped.
 */
const STAGE_COUNTS = `
WITH entered AS (
  SELECT subject_type, subject_id, stage_index FROM funnel_progress
  WHERE funnel = ? AND ${onLocalDays('entered_at')}
), reach AS (
  SELECT e.subject_type, e.subject_id, i.idx, min(r.reached_at) AS reached_at
  FROM entered e CROSS JOIN LATERAL generate_series(0, e.stage_index) AS i(idx)
  LEFT JOIN funnel_stage_reached r
    ON r.funnel = ? AND r.subject_type = e.subject_type AND r.subject_id = e.subject_id
   AND r.stage_index >= i.idx
  GROUP BY e.subject_type, e.subject_id, i.idx
), steps AS (
  SELECT idx, reached_at - lag(reached_at) OVER (PARTITION BY subject_type, subject_id ORDER BY idx) AS since_previous
  FROM reach
)
SELECT idx AS "stageIndex", count(*)::int AS subjects,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM since_previous)::float8) AS "medianSecondsFromPrevious"
FROM steps GROUP BY idx ORDER BY idx`;

@Injectable()
export class FunnelReportRepository {
  constructor(@InjectReportDatabase() private readonly database: Sql) {}

  stageCounts(funnel: string, range: DateRange): Promise<StageCount[]> {
    return this.database.query<StageCount>(STAGE_COUNTS, [
      funnel,
      ...localDaysParams(range),
      funnel,
    ]);
  }
}
