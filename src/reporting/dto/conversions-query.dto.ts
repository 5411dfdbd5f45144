import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { ATTRIBUTION_MODELS, AttributionModel } from '../attribution-models';

export class ConversionsQueryDto {
  /**
   * First day (inclusive), `YYYY-MM-DD` in REPORT_TIMEZONE; default 30 days ago.
   * @example "2026-10-27"
   */
  @IsOptional()
  @IsString()
  start_date?: string;

  /**
   * Last day (inclusive), `YYYY-MM-DD` in REPORT_TIMEZONE; default today.
   * @example "2026-11-26"
   */
  @IsOptional()
  @IsString()
  end_date?: string;

  /**
   * Only credit given to touchpoints from this source.
   * @example "google"
   */
  @IsOptional()
  @IsString()
  @MaxLength(256)
  utm_source?: string;

  /**
   * Only credit given to touchpoints of this campaign.
   * @example "black_friday"
   */
  @IsOptional()
  @IsString()
  @MaxLength(256)
  utm_campaign?: string;

  /**
   * Only conversions of this event type.
   * @example "purchase"
   */
  @IsOptional()
  @IsString()
  @MaxLength(40)
  event_type?: string;

  /** How a conversion's credit is shared among its touchpoints. */
  @IsOptional()
  @IsIn(ATTRIBUTION_MODELS)
  attribution?: AttributionModel = 'last_touch';

  /**
   * Days before a conversion in which touchpoints count, 1–90.
   * @example 30
   */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(90)
  lookback_days?: number = 30;

  /** Count events flagged as bots, as conversions and as touchpoints. */
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    value === 'true' ? true : value === 'false' ? false : value,
  )
  @IsBoolean()
  include_bots?: boolean = false;
}
