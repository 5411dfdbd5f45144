import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * How far retention has gone through the state derived from events (funnel state,
 * identity links): one row, so that a replica starting later does not walk those tables
 * again for a horizon another has finished.
 */
@Entity({ tableName: 'retention_state' })
export class RetentionState {
  @PrimaryKey({ type: 'integer', autoincrement: false })
  id!: number;

  /** No state derived from events before this instant is left. */
  @Property({ type: 'timestamptz' })
  derivedPrunedBefore!: Date;
}
