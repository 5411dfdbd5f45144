import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * Attributed conversions per day (in REPORT_TIMEZONE), model, conversion type, credited
 * touchpoint and currency, at the default lookback with bots excluded: the sums the
 * default reports read instead of raw events. Kept exact by the attribution refresher.
 * The unique key holds hashes of the touchpoint's texts: the texts themselves (up to 256
 * characters of up to 4 bytes each) could exceed a btree row's 2,704 bytes.
 */
@Entity({ tableName: 'attribution_daily' })
@Index({
  name: 'attribution_daily_key',
  expression:
    'create unique index "attribution_daily_key" on "attribution_daily" ("model", "day", "event_type", md5("source"), md5("medium"), md5("campaign"), "currency") nulls not distinct',
})
export class AttributionDaily {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @Property({ type: 'text' })
  model!: string;

  @Property({ type: 'date' })
  day!: string;

  @Property({ type: 'text' })
  eventType!: string;

  @Property({ type: 'text' })
  source!: string;

  @Property({ type: 'text' })
  medium!: string;

  @Property({ type: 'text', nullable: true })
  campaign?: string;

  /** Null for conversions without a value. */
  @Property({ type: 'character', length: 3, nullable: true })
  currency?: string;

  /** Credit in millionths of a conversion. */
  @Property({ type: 'bigint' })
  conversions!: string;

  /** Credited value in millionths of the currency unit. */
  @Property({ type: 'decimal', columnType: 'numeric' })
  valueMicros!: string;

  /** How many credits carried a value: the currency is reported when there was one. */
  @Property({ type: 'integer' })
  valued!: number;
}
