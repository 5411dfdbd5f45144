import { Entity, PrimaryKey, Property } from '@mikro-orm/core';
import { StoredCredits } from './stored-credits';

/**
 * The credit one conversion gave, per model, as last added to the daily rollup: what
 * the refresher subtracts before it adds the conversion's new credit.
 */
@Entity({ tableName: 'conversion_credits' })
export class ConversionCredit {
  /** events.id of the conversion. */
  @PrimaryKey({ type: 'uuid' })
  eventId!: string;

  /** Rollup keys and amounts, packed (see stored-credits.ts). */
  @Property({ type: 'jsonb' })
  credits!: StoredCredits;
}
