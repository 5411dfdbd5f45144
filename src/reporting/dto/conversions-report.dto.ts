import { ApiProperty } from '@nestjs/swagger';
import { ATTRIBUTION_MODELS, AttributionModel } from '../attribution-models';

const VALUE_BY_CURRENCY = {
  type: 'object',
  additionalProperties: { type: 'number' },
  description: 'Credited value per ISO-4217 currency; never summed across currencies.',
  example: { EUR: 1234.5, USD: 99 },
} as const;

export class ConversionTotalsDto {
  /**
   * Credited conversions; fractional under multi-touch models (6 decimals).
   * @example 42.5
   */
  conversions!: number;
  @ApiProperty(VALUE_BY_CURRENCY)
  value_by_currency!: Record<string, number>;
}

export class SourceConversionsDto extends ConversionTotalsDto {
  /** @example "google" */
  source!: string;
  /** @example "cpc" */
  medium!: string;
  /** @example "black_friday" */
  campaign!: string | null;
}

export class EventTypeConversionsDto extends ConversionTotalsDto {
  /** @example "purchase" */
  event_type!: string;
}

export class DailyConversionsDto {
  /** @example "2026-11-26" */
  @ApiProperty({ format: 'date' })
  date!: string;
  /** @example 3.5 */
  conversions!: number;
}

export class ConversionFiltersDto {
  utm_source!: string | null;
  utm_campaign!: string | null;
  event_type!: string | null;
  include_bots!: boolean;
}

export class ConversionsReportDto {
  /** @example "2026-10-27" */
  @ApiProperty({ format: 'date' })
  start_date!: string;
  /** @example "2026-11-26" */
  @ApiProperty({ format: 'date' })
  end_date!: string;
  /** @example "UTC" */
  timezone!: string;
  @ApiProperty({ enum: ATTRIBUTION_MODELS, example: 'last_touch' })
  attribution!: AttributionModel;
  /** @example 30 */
  @ApiProperty({ type: 'integer' })
  lookback_days!: number;
  filters!: ConversionFiltersDto;
  totals!: ConversionTotalsDto;
  /** Credit per touchpoint source, medium and campaign, largest first; `(direct)` when a conversion had no touchpoint. */
  by_source!: SourceConversionsDto[];
  by_event_type!: EventTypeConversionsDto[];
  /** Every day of the range, by the conversion's day in the report time zone. */
  daily!: DailyConversionsDto[];
}
