import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsDefined,
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  ValidateIf,
} from 'class-validator';
import { IsWithinEventTimeWindow } from '../validation/event-time-window.constraint';
import { IsJsonObject } from '../validation/json-object.validator';
import { ISO_WITH_OFFSET, PRINTABLE, PRINTABLE_PATTERN } from '../validation/patterns';
import { IsStorableText } from '../validation/text-validators';

/**
 * The fields every public write shares — who it is about, when, its idempotency key
 * and free-form properties — so tracking and funnel updates validate them identically.
 */
export abstract class SubjectEventFieldsDto {
  /**
   * Idempotency key: a repeat with an id already stored stores nothing new.
   * @example "6f1c2a9e-5b1d-4f57-9a43-2f8f3b1f0c11"
   */
  @ApiPropertyOptional({ pattern: PRINTABLE_PATTERN })
  @IsOptional()
  @IsString()
  @Length(1, 128)
  @Matches(PRINTABLE, {
    message:
      'event_id must contain only printable characters (no control characters, nor marks invisible on their own such as zero-width or directional ones)',
  })
  @IsStorableText()
  event_id?: string;

  /**
   * Anonymous browser id; `visitor_id` or `user_id` is required.
   * @example "v_8f14e45f"
   */
  @ValidateIf((body: SubjectEventFieldsDto) => body.user_id == null || body.visitor_id != null)
  @IsDefined({ message: 'visitor_id or user_id is required' })
  @IsString()
  @Length(1, 128)
  @IsStorableText()
  visitor_id?: string;

  /**
   * Known user id; it is the subject when given, and an event with both ids links the visitor to the user.
   * @example "user_42"
   */
  @IsOptional()
  @IsString()
  @Length(1, 128)
  @IsStorableText()
  user_id?: string;

  /**
   * When it happened, ISO-8601 with an offset (`T` and `Z` upper case, seconds optional, up to
   * 9 fractional digits); defaults to the time it was received. At most TRACK_MAX_EVENT_AGE_HOURS
   * (default 72) in the past and 5 minutes in the future, or the request is a 400.
   * @example "2026-11-26T10:15:00Z"
   */
  @ApiPropertyOptional({ format: 'date-time' })
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

  /**
   * Free-form properties: a JSON object, at most 8 KB serialized and 5 levels deep, with
   * no key named `__proto__`, `prototype` or `constructor` at any depth.
   * @example {"plan": "pro", "items": 2}
   */
  @IsOptional()
  @IsObject()
  @IsJsonObject({ maxBytes: 8192, maxDepth: 5 })
  // As sent: class-transformer's copy drops keys named like Object.prototype's members
  // (`valueOf`, `toString`…), which would store less than the client sent.
  @Transform(({ obj }) => (obj as { properties?: unknown }).properties, { toClassOnly: true })
  properties?: Record<string, unknown>;
}
