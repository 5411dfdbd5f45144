import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * Every stored event's idempotency key, across all partitions of `events`: the track
 * statement claims the key here first and stores the event only if the claim is new.
 * Its `occurred_at` lets retention forget keys together with their events.
 */
@Entity({ tableName: 'event_ids' })
@Index({
  name: 'event_ids_occurred_at_brin',
  expression: 'create index "event_ids_occurred_at_brin" on "event_ids" using brin ("occurred_at")',
})
export class EventId {
  @PrimaryKey({ type: 'text' })
  eventId!: string;

  @Property({ type: 'timestamptz' })
  occurredAt!: Date;
}
