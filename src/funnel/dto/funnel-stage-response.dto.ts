import { ApiProperty } from '@nestjs/swagger';
export class FunnelStageResponseDto {
  @ApiProperty({ enum: [true] })
  success!: true;
  /** @example "default" */
  funnel!: string;
  /**
   * The stage requested.
   * @example "signup"
   */
  stage!: string;
  /**
   * The subject's stage before this update; null when it had not entered the funnel.
   * @example "lead"
   */
  previous_stage!: string | null;
  /** True when the subject moved forward; false when the stage was at or behind its current one. */
  advanced!: boolean;
}
