import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * The credit one conversion gave, per model, as last added to the daily rollup: what
 * the refresher subtracts before it adds the conversion's new credit.
 */
@Entity({ tableName: 'conversion_credits' })
export class ConversionCredit {
  /** events.id of the conversion. */
  @PrimaryKey({ type: 'uuid' })
  eventId!: string;

  /** Rollup keys and amounts: [model, day, event_type, source, medium, campaign, currency, millionths, value micros]. */
  @Property({ type: 'jsonb' })
  credits!: unknown[];
}
