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
import { IsJsonObject } from '../../common/validation/json-object.validator';
import { IsStorableText } from '../../common/validation/text-validators';
import { ISO_WITH_OFFSET, NO_CONTROL_CHARS } from '../../common/validation/patterns';
import { IsWithinEventTimeWindow } from '../../common/validation/event-time-window.constraint';

/** An explicit move of a visitor or user to a funnel stage. */
export class UpdateFunnelStageDto {
  /**
   * Anonymous browser id; `visitor_id` or `user_id` is required.
   * @example "v_8f14e45f"
   */
  @ValidateIf((body: UpdateFunnelStageDto) => body.user_id == null || body.visitor_id != null)
  @IsDefined({ message: 'visitor_id or user_id is required' })
  @IsString()
  @Length(1, 128)
  @IsStorableText()
  visitor_id?: string;

  /**
   * Known user id; takes precedence over `visitor_id` as the subject.
   * @example "user_42"
   */
  @IsOptional()
  @IsString()
  @Length(1, 128)
  @IsStorableText()
  user_id?: string;

  /**
   * The funnel; `default` when omitted.
   * @example "default"
   */
  @IsOptional()
  @IsString()
  @Length(1, 64)
  @IsStorableText()
  funnel?: string;

  /**
   * The stage to move to: ahead of the current one advances, at or behind it changes nothing.
   * @example "signup"
   */
  @IsString()
  @Length(1, 64)
  @IsStorableText()
  stage!: string;

  /**
   * When the stage was reached, ISO-8601 with an offset; defaults to now.
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

  /**
   * Idempotency key: a repeated update with this id changes nothing and gets the original answer.
   * @example "signup-user_42"
   */
  @IsOptional()
  @IsString()
  @Length(1, 128)
  @Matches(NO_CONTROL_CHARS, { message: 'event_id must contain only printable characters' })
  @IsStorableText()
  event_id?: string;

  /**
   * Free-form properties: a JSON object, at most 8 KB serialized and 5 levels deep.
   * @example {"form": "newsletter"}
   */
  @IsOptional()
  @IsObject()
  @IsJsonObject({ maxBytes: 8192, maxDepth: 5 })
  properties?: Record<string, unknown>;
}
