import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

export const CHANNELS = [
  'paid_search',
  'organic_search',
  'paid_social',
  'organic_social',
  'email',
  'referral',
  'direct',
  'other',
] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * One tracked event with its derived attribution and request context. Append-only.
 * Partitioned by month of `occurred_at` (see the migration that made it so and
 * event-partitions.repository.ts), hence the key: a partitioned table's unique keys
 * must hold its partition key. `event_id`'s uniqueness lives in `event_ids`.
 */
@Entity({ tableName: 'events' })
@Index({
  name: 'events_occurred_at_brin',
  expression: 'create index "events_occurred_at_brin" on "events" using brin ("occurred_at")',
})
@Index({
  name: 'events_user_occurred_index',
  expression:
    'create index "events_user_occurred_index" on "events" ("user_id", "occurred_at") where "user_id" is not null',
})
@Index({
  name: 'events_anonymous_visitor_occurred_index',
  expression:
    'create index "events_anonymous_visitor_occurred_index" on "events" ("visitor_id", "occurred_at") where "user_id" is null',
})
export class TrackedEvent {
  @PrimaryKey({ type: 'uuid', defaultRaw: 'gen_random_uuid()' })
  id!: string;

  @PrimaryKey({ type: 'timestamptz' })
  occurredAt!: Date;

  /** The client's idempotency key, or a generated one; unique across all events (event_ids). */
  @Property({ type: 'text' })
  eventId!: string;

  @Property({ type: 'text' })
  eventType!: string;

  @Property({ type: 'text', nullable: true })
  visitorId?: string;

  @Property({ type: 'text', nullable: true })
  userId?: string;

  @Property({ type: 'text', nullable: true })
  sessionId?: string;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  receivedAt!: Date;

  @Property({ type: 'text', nullable: true })
  utmSource?: string;

  @Property({ type: 'text', nullable: true })
  utmMedium?: string;

  @Property({ type: 'text', nullable: true })
  utmCampaign?: string;

  @Property({ type: 'text', nullable: true })
  utmTerm?: string;

  @Property({ type: 'text', nullable: true })
  utmContent?: string;

  @Property({ type: 'text', nullable: true })
  gclid?: string;

  @Property({ type: 'text', nullable: true })
  fbclid?: string;

  @Property({ type: 'text', nullable: true })
  msclkid?: string;

  @Property({ type: 'text', nullable: true })
  pageUrl?: string;

  @Property({ type: 'text', nullable: true })
  referrer?: string;

  @Property({ type: 'decimal', columnType: 'numeric', nullable: true })
  value?: string;

  @Property({ type: 'character', length: 3, nullable: true })
  currency?: string;

  @Property({ type: 'jsonb', nullable: true })
  properties?: Record<string, unknown>;

  @Property({ type: 'text' })
  source!: string;

  @Property({ type: 'text' })
  medium!: string;

  @Property({ type: 'text', nullable: true })
  campaign?: string;

  @Property({ type: 'text' })
  channel!: Channel;

  @Property({ type: 'text', nullable: true })
  userAgent?: string;

  @Property({ type: 'boolean' })
  isBot!: boolean;

  @Property({ type: 'text', nullable: true })
  origin?: string;

  /** The client address truncated to its /24 (IPv4) or /48 (IPv6) network; never the full address. */
  @Property({ type: 'text', nullable: true })
  ipPrefix?: string;
}
