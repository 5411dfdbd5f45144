import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * Each funnel's stages as the service last applied them. Progress stores a stage's
 * position; when FUNNELS_FILE moves, adds or removes stages, stored progress is
 * renumbered from this at start (FunnelDefinitionSync), so it keeps its meaning.
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
