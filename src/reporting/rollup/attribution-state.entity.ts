import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** What the stored credit was computed for; a different configuration rebuilds it. */
@Entity({ tableName: 'attribution_state' })
export class AttributionState {
  @PrimaryKey({ type: 'integer', autoincrement: false })
  id!: number;

  @Property({ type: 'text' })
  fingerprint!: string;
}
