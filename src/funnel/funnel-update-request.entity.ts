import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** The outcome of an explicit funnel update, kept so a repeated `event_id` gets the same answer. */
@Entity({ tableName: 'funnel_update_requests' })
export class FunnelUpdateRequest {
  @PrimaryKey({ type: 'text' })
  eventId!: string;

  @Property({ type: 'text' })
  funnel!: string;

  @Property({ type: 'text' })
  stage!: string;

  @Property({ type: 'text', nullable: true })
  previousStage?: string;

  @Property({ type: 'boolean' })
  advanced!: boolean;

  /** The request's free-form properties, kept as sent. */
  @Property({ type: 'jsonb', nullable: true })
  properties?: Record<string, unknown>;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;
}
