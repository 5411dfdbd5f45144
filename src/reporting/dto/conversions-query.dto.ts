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
   * Only credit given to touchpoints from this source (case-insensitive, and trimmed: sources are stored so).
   * @example "google"
   */
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => {
    const text = asFilter(value);
    return typeof text === 'string' ? text.toLowerCase() : text;
  })
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_source?: string;

  /**
   * Only credit given to touchpoints of this campaign (trimmed: campaigns are stored so).
   * @example "black_friday"
   */
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => asFilter(value))
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

/** Text as stored values are kept: trimmed, and absent when only spaces; anything else as given, for validation. */
function asFilter(value: unknown): unknown {
  return typeof value === 'string' ? value.trim() || undefined : value;
}
