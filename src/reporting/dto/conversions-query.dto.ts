import { Transform } from 'class-transformer';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { DateRangeQueryDto } from '../../common/dto/date-range-query.dto';
import { IsOptionalQueryBoolean } from '../../common/dto/query-boolean';
import { IsOptionalQueryInteger } from '../../common/dto/query-integer';
import { ATTRIBUTION_MODELS, AttributionModel } from '../attribution-models';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsStorableText } from '../../common/validation/text-validators';

export class ConversionsQueryDto extends DateRangeQueryDto {
  /**
   * Only credit given to touchpoints from this source (case-insensitive: sources are stored lower-cased).
   * @example "google"
   */
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.toLowerCase() : value,
  )
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_source?: string;

  /**
   * Only credit given to touchpoints of this campaign.
   * @example "black_friday"
   */
  @IsOptional()
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_campaign?: string;

  /**
   * Only conversions of this event type.
   * @example "purchase"
   */
  @IsOptional()
  @IsString()
  @MaxLength(40)
  @IsStorableText()
  event_type?: string;

  /** How a conversion's credit is shared among its touchpoints. */
  @IsOptional()
  @IsIn(ATTRIBUTION_MODELS)
  attribution?: AttributionModel = 'last_touch';

  /**
   * Days before a conversion in which touchpoints count, 1–90.
   * @example 30
   */
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 90, default: 30 })
  @IsOptionalQueryInteger(1, 90)
  lookback_days?: number = 30;

  /** Count events flagged as bots, as conversions and as touchpoints. */
  @IsOptionalQueryBoolean()
  include_bots?: boolean = false;
}
