import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';
import type { SubjectType } from './funnel-progress.entity';

/** One forward move of a subject in a funnel, naming the event that caused it. Append-only. */
@Entity({ tableName: 'funnel_transitions' })
@Index({ name: 'funnel_transitions_subject_index', properties: ['subjectType', 'subjectId'] })
export class FunnelTransition {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @Property({ type: 'text' })
  funnel!: string;

  @Property({ type: 'text' })
  subjectType!: SubjectType;

  @Property({ type: 'text' })
  subjectId!: string;

  @Property({ type: 'text', nullable: true })
  fromStage?: string;

  @Property({ type: 'text' })
  toStage!: string;

  /** The tracked event's `event_id`, or the explicit update's. */
  @Property({ type: 'text' })
  causeEventId!: string;

  /** The tracked event's type; null for an explicit `POST /v1/events/funnel`. */
  @Property({ type: 'text', nullable: true })
  causeEventType?: string;

  @Property({ type: 'timestamptz' })
  occurredAt!: Date;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  recordedAt!: Date;
}
