import {
  IsNumber,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  IsDefined,
} from 'class-validator';
import { SubjectEventFieldsDto } from '../../common/dto/subject-event-fields.dto';
import { registerFastCheck } from '../../common/validation/fast-check';
import { GA4_EVENT_NAME, HTTP_URL_PATTERN } from '../../common/validation/patterns';
import { IsHttpUrl, IsStorableText } from '../../common/validation/text-validators';
import { MAX_EVENT_VALUE, isPlainlyValidTrackEvent } from './track-event.fast-check';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';

/** UTM values are stored trimmed, so their 256 characters are counted without the padding. */
function TrimmedText(): PropertyDecorator {
  return Transform(
    ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value),
    {
      toClassOnly: true,
    },
  );
}

/** One event, as browsers and back ends send it. */
export class TrackEventDto extends SubjectEventFieldsDto {
  /**
   * The event's name; GA4's naming rule, so names map 1:1 to GA4.
   * @example "purchase"
   */
  @ApiProperty({ pattern: GA4_EVENT_NAME.source })
  @IsString()
  @Length(1, 40)
  @Matches(GA4_EVENT_NAME, {
    message: 'event_type must start with a letter and contain only letters, digits and _',
  })
  event_type!: string;

  /** @example "s_1732611000" */
  @IsOptional()
  @IsString()
  @Length(1, 128)
  @IsStorableText()
  session_id?: string;

  /** @example "google" */
  @TrimmedText()
  @IsOptional()
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_source?: string;

  /** @example "cpc" */
  @TrimmedText()
  @IsOptional()
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_medium?: string;

  /** @example "black_friday" */
  @TrimmedText()
  @IsOptional()
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_campaign?: string;

  @TrimmedText()
  @IsOptional()
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_term?: string;

  @TrimmedText()
  @IsOptional()
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_content?: string;

  /** Google Ads click id. */
  @IsOptional()
  @IsString()
  @MaxLength(512)
  @IsStorableText()
  gclid?: string;

  /** Meta click id. */
  @IsOptional()
  @IsString()
  @MaxLength(512)
  @IsStorableText()
  fbclid?: string;

  /** Microsoft Ads click id. */
  @IsOptional()
  @IsString()
  @MaxLength(512)
  @IsStorableText()
  msclkid?: string;

  /**
   * The page the event happened on; UTM parameters and click ids are read from its query.
   * @example "https://shop.example.com/checkout?utm_source=google&utm_medium=cpc"
   */
  @ApiPropertyOptional({ pattern: HTTP_URL_PATTERN })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @IsHttpUrl()
  @IsStorableText()
  page_url?: string;

  /**
   * The page the visitor came from; empty counts as absent (`document.referrer` on a direct visit).
   * @example "https://www.google.com/"
   */
  @ApiPropertyOptional({ pattern: `^$|${HTTP_URL_PATTERN}` })
  @Transform(({ value }: { value: unknown }) => (value === '' ? undefined : value), {
    toClassOnly: true,
  })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @IsHttpUrl()
  @IsStorableText()
  referrer?: string;

  /**
   * Monetary value, 0 to 10^15; requires `currency`.
   * @example 49.9
   */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(MAX_EVENT_VALUE)
  value?: number;

  /**
   * ISO-4217 code, required with `value`.
   * @example "EUR"
   */
  @ValidateIf((event: TrackEventDto) => event.value != null || event.currency != null)
  @IsDefined({ message: 'currency is required when value is given' })
  @IsString()
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be an ISO-4217 code (3 upper-case letters)' })
  currency?: string;
}

registerFastCheck(TrackEventDto, isPlainlyValidTrackEvent);
