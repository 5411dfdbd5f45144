import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

export type SubjectType = 'user' | 'visitor';

/** Where one subject (a user when known, else a visitor) stands in one funnel. */
@Entity({ tableName: 'funnel_progress' })
@Index({ name: 'funnel_progress_entered_index', properties: ['funnel', 'enteredAt'] })
@Index({ name: 'funnel_progress_subject_index', properties: ['subjectType', 'subjectId'] })
export class FunnelProgress {
  @PrimaryKey({ type: 'text' })
  funnel!: string;

  @PrimaryKey({ type: 'text' })
  subjectType!: SubjectType;

  @PrimaryKey({ type: 'text' })
  subjectId!: string;

  /** Position of `stage` in the funnel's definition: progress only moves to a higher one. */
  @Property({ type: 'integer' })
  stageIndex!: number;

  @Property({ type: 'text' })
  stage!: string;

  /** The stage before the last move; returned by the forward-only upsert as "previous_stage". */
  @Property({ type: 'text', nullable: true })
  previousStage?: string;

  /** When the subject first reached any stage of this funnel. */
  @Property({ type: 'timestamptz' })
  enteredAt!: Date;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt!: Date;
}
