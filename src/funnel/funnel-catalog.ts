import { FieldError, ValidationFailedError } from '../common/http/domain-error';
import { FunnelDefinition } from '../config/funnels-file';

/** The funnel a funnel update names when it names none. */
export const DEFAULT_FUNNEL = 'default';

export interface StageRef {
  funnel: string;
  stage: string;
  stageIndex: number;
}

/** Looks up funnels and stages by name, and the stages an event type reaches. */
export class FunnelCatalog {
  private readonly byName: Map<string, FunnelDefinition>;
  private readonly byEventType = new Map<string, StageRef[]>();

  constructor(readonly funnels: readonly FunnelDefinition[]) {
    this.byName = new Map(funnels.map((funnel) => [funnel.name, funnel]));
    for (const funnel of funnels) {
      funnel.stages.forEach((stage, stageIndex) => {
        for (const eventType of stage.eventTypes) {
          const refs = this.byEventType.get(eventType) ?? [];
          refs.push({ funnel: funnel.name, stage: stage.name, stageIndex });
          this.byEventType.set(eventType, refs);
        }
      });
    }
  }

  funnel(name: string): FunnelDefinition | undefined {
    return this.byName.get(name);
  }

  /** Every funnel stage this event type reaches (at most one per funnel). */
  stagesFor(eventType: string): readonly StageRef[] {
    return this.byEventType.get(eventType) ?? [];
  }

  /** The stage an explicit update names; a 400 listing the valid names when there is none. */
  resolve(funnelName: string, stageName: string): StageRef {
    const problem = this.funnelProblem(funnelName) ?? this.stageProblem(funnelName, stageName);
    if (problem) throw new ValidationFailedError([problem]);
    const stageIndex = this.byName.get(funnelName)!.stages.findIndex((s) => s.name === stageName);
    return { funnel: funnelName, stage: stageName, stageIndex };
  }

  /** Why `funnelName` names no funnel, listing the valid ones; undefined when it does. */
  funnelProblem(funnelName: string): FieldError | undefined {
    if (this.byName.has(funnelName)) return undefined;
    const valid = this.funnels.map((f) => f.name).join(', ');
    return { field: 'funnel', message: `unknown funnel "${funnelName}"; valid funnels: ${valid}` };
  }

  /** Why `stageName` is no stage of that funnel (undefined too when the funnel is unknown). */
  stageProblem(funnelName: string, stageName: string): FieldError | undefined {
    const funnel = this.byName.get(funnelName);
    if (!funnel || funnel.stages.some((stage) => stage.name === stageName)) return undefined;
    const valid = funnel.stages.map((s) => s.name).join(', ');
    return {
      field: 'stage',
      message: `unknown stage "${stageName}" in funnel "${funnelName}"; valid stages: ${valid}`,
    };
  }
}
