import { FunnelDefinition } from '../config/funnels-file';
import { FunnelReportStageDto } from './dto/funnel-report.dto';

export interface StageCount {
  stageIndex: number;
  subjects: number;
  /** Median seconds from reaching the previous stage to reaching this one. */
  medianSecondsFromPrevious: number | null;
}

/** Every stage of the funnel in order, zeros included, with conversion rates rounded to 4 places. */
export function buildFunnelStages(
  funnel: FunnelDefinition,
  counts: StageCount[],
): FunnelReportStageDto[] {
  const byIndex = new Map(counts.map((count) => [count.stageIndex, count]));
  const first = byIndex.get(0)?.subjects ?? 0;
  return funnel.stages.map((stage, index) => {
    const count = byIndex.get(index);
    const subjects = count?.subjects ?? 0;
    const previous = index === 0 ? null : (byIndex.get(index - 1)?.subjects ?? 0);
    return {
      stage: stage.name,
      subjects,
      conversion_from_previous: previous === null ? null : ratio(subjects, previous),
      conversion_from_first: ratio(subjects, first),
      median_seconds_from_previous: index === 0 ? null : (count?.medianSecondsFromPrevious ?? null),
    };
  });
}

function ratio(part: number, whole: number): number | null {
  return whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000;
}
