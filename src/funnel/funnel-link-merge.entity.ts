import { Entity, PrimaryKey } from '@mikro-orm/core';

/**
 * A visitor just linked to a user, whose funnel progress is merged into the user's once
 * more after every statement that could still have moved the visitor has ended: a
 * grouped track statement whose snapshot predates the link still resolves the visitor
 * as its own subject (see `LinkMergeSweeper`). The row's xmin, the linking
 * transaction's id, tells when that is.
 */
@Entity({ tableName: 'funnel_link_merges' })
export class FunnelLinkMerge {
  @PrimaryKey({ type: 'text' })
  visitorId!: string;

  @PrimaryKey({ type: 'text' })
  userId!: string;
}
