import {
  IsDefined,
  IsISO8601,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { IsJsonObject } from '../../common/validation/json-object.validator';
import {
  GA4_EVENT_NAME,
  ISO_WITH_OFFSET,
  NO_CONTROL_CHARS,
} from '../../common/validation/patterns';
import { IsHttpUrl, IsStorableText } from '../../common/validation/text-validators';
import { IsWithinEventTimeWindow } from '../../common/validation/event-time-window.constraint';

/** One event, as browsers and back ends send it. */
export class TrackEventDto {
  /**
   * The event's name; GA4's naming rule, so names map 1:1 to GA4.
   * @example "purchase"
   */
  @IsString()
  @Length(1, 40)
  @Matches(GA4_EVENT_NAME, {
    message: 'event_type must start with a letter and contain only letters, digits and _',
  })
  event_type!: string;

  /**
   * Idempotency key: an event whose id is already stored is not stored again.
   * @example "6f1c2a9e-5b1d-4f57-9a43-2f8f3b1f0c11"
   */
  @IsOptional()
  @IsString()
  @Length(1, 128)
  @Matches(NO_CONTROL_CHARS, { message: 'event_id must contain only printable characters' })
  @IsStorableText()
  event_id?: string;

  /**
   * Anonymous browser id; `visitor_id` or `user_id` is required.
   * @example "v_8f14e45f"
   */
  @ValidateIf((event: TrackEventDto) => event.user_id == null || event.visitor_id != null)
  @IsDefined({ message: 'visitor_id or user_id is required' })
  @IsString()
  @Length(1, 128)
  @IsStorableText()
  visitor_id?: string;

  /**
   * Known user id; an event with both ids links the visitor to the user.
   * @example "user_42"
   */
  @IsOptional()
  @IsString()
  @Length(1, 128)
  @IsStorableText()
  user_id?: string;

  /** @example "s_1732611000" */
  @IsOptional()
  @IsString()
  @Length(1, 128)
  @IsStorableText()
  session_id?: string;

  /**
   * When the event happened, ISO-8601 with an offset; defaults to the time it was received.
   * @example "2026-11-26T10:15:00Z"
   */
  @IsOptional()
  @IsString()
  @Matches(ISO_WITH_OFFSET, {
    message: 'occurred_at must be an ISO-8601 date-time with a time zone offset',
  })
  @IsISO8601(
    { strict: true, strictSeparator: true },
    { message: 'occurred_at must be a valid ISO-8601 date-time' },
  )
  @IsWithinEventTimeWindow()
  occurred_at?: string;

  /** @example "google" */
  @IsOptional()
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_source?: string;

  /** @example "cpc" */
  @IsOptional()
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_medium?: string;

  /** @example "black_friday" */
  @IsOptional()
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_campaign?: string;

  @IsOptional()
  @IsString()
  @MaxLength(256)
  @IsStorableText()
  utm_term?: string;

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
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @IsHttpUrl()
  @IsStorableText()
  page_url?: string;

  /** @example "https://www.google.com/" */
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @IsHttpUrl()
  @IsStorableText()
  referrer?: string;

  /**
   * Monetary value; requires `currency`.
   * @example 49.9
   */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
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

  /**
   * Free-form properties: a JSON object, at most 8 KB serialized and 5 levels deep.
   * @example {"plan": "pro", "items": 2}
   */
  @IsOptional()
  @IsObject()
  @IsJsonObject({ maxBytes: 8192, maxDepth: 5 })
  properties?: Record<string, unknown>;
}
