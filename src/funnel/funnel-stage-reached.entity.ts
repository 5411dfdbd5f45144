import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';
import type { SubjectType } from './funnel-progress.entity';

/** The first time a subject reached a stage, and the event that took it there. */
@Entity({ tableName: 'funnel_stage_reached' })
@Index({ name: 'funnel_stage_reached_subject_index', properties: ['subjectType', 'subjectId'] })
export class FunnelStageReached {
  @PrimaryKey({ type: 'text' })
  funnel!: string;

  @PrimaryKey({ type: 'text' })
  subjectType!: SubjectType;

  @PrimaryKey({ type: 'text' })
  subjectId!: string;

  @PrimaryKey({ type: 'text' })
  stage!: string;

  @Property({ type: 'integer' })
  stageIndex!: number;

  @Property({ type: 'timestamptz' })
  reachedAt!: Date;

  @Property({ type: 'text' })
  eventId!: string;
}
