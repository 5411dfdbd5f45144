import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * An identity whose conversions' credit may have changed: appended in the same
 * statement as the events and links that change it, consumed by the attribution
 * refresher. Append-only on purpose: writers never wait on each other or on the
 * refresher, and a mark is visible exactly when the writes it stands for are.
 */
@Entity({ tableName: 'attribution_marks' })
export class AttributionMark {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  seq!: string;

  /** `u` (a user id) or `v` (a visitor id). */
  @Property({ type: 'text' })
  kind!: string;

  @Property({ type: 'text' })
  identity!: string;

  /** Conversions from this instant on need recomputing; -infinity after a new link. */
  @Property({ type: 'timestamptz' })
  since!: Date;
}
