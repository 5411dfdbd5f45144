import { IsOptional, IsString, Length } from 'class-validator';
import { SubjectEventFieldsDto } from '../../common/dto/subject-event-fields.dto';
import { IsStorableText } from '../../common/validation/text-validators';
import { IsFunnelOrStage } from './funnel-stage.constraint';

/** An explicit move of a visitor or user to a funnel stage. */
export class UpdateFunnelStageDto extends SubjectEventFieldsDto {
  /**
   * The funnel; `default` when omitted.
   * @example "default"
   */
  @IsOptional()
  @IsString()
  @Length(1, 64)
  @IsStorableText()
  @IsFunnelOrStage()
  funnel?: string;

  /**
   * The stage to move to: ahead of the current one advances, at or behind it changes nothing.
   * @example "signup"
   */
  @IsString()
  @Length(1, 64)
  @IsStorableText()
  @IsFunnelOrStage()
  stage!: string;
}
