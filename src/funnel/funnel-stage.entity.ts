import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * Each funnel's stages as the service last applied them. Progress stores a stage's
 * position: a FUNNELS_FILE that would change what a stored position means is refused at
 * start (FunnelStagesCheck).
 */
@Entity({ tableName: 'funnel_stages' })
export class FunnelStage {
  @PrimaryKey({ type: 'text' })
  funnel!: string;

  @PrimaryKey({ type: 'text' })
  stage!: string;

  @Property({ type: 'integer' })
  stageIndex!: number;
}
