import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * A visitor just linked to a user, whose funnel progress is merged into the user's once
 * more after every statement that could still have moved the visitor has ended: a
 * grouped track statement that started before the link committed still resolves the
 * visitor as its own subject (see `LinkMergeSweeper`).
 */
@Entity({ tableName: 'funnel_link_merges' })
export class FunnelLinkMerge {
  @PrimaryKey({ type: 'text' })
  visitorId!: string;

  @PrimaryKey({ type: 'text' })
  userId!: string;

  /** Set by the last statement of the linking transaction, just before its commit. */
  @Property({ type: 'timestamptz', defaultRaw: 'clock_timestamp()' })
  recordedAt!: Date;
}
