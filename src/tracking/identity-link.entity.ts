import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/** A visitor (anonymous browser id) seen together with a known user. */
@Entity({ tableName: 'identity_links' })
@Index({ name: 'identity_links_user_id_index', properties: ['userId'] })
export class IdentityLink {
  @PrimaryKey({ type: 'text' })
  visitorId!: string;

  @PrimaryKey({ type: 'text' })
  userId!: string;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  linkedAt!: Date;
}
