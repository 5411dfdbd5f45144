import { ValidationFailedError } from '../common/http/domain-error';
import { FunnelDefinition } from '../config/funnels-file';

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
    const funnel = this.byName.get(funnelName);
    if (!funnel) {
      const valid = this.funnels.map((f) => f.name).join(', ');
      throw new ValidationFailedError([
        { field: 'funnel', message: `unknown funnel "${funnelName}"; valid funnels: ${valid}` },
      ]);
    }
    const stageIndex = funnel.stages.findIndex((stage) => stage.name === stageName);
    if (stageIndex < 0) {
      const valid = funnel.stages.map((s) => s.name).join(', ');
      throw new ValidationFailedError([
        {
          field: 'stage',
          message: `unknown stage "${stageName}" in funnel "${funnelName}"; valid stages: ${valid}`,
        },
      ]);
    }
    return { funnel: funnel.name, stage: stageName, stageIndex };
  }
}
