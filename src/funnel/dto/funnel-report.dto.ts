import { ApiProperty } from '@nestjs/swagger';
import { DateRangeQueryDto } from '../../common/dto/date-range-query.dto';

export class FunnelReportQueryDto extends DateRangeQueryDto {}

export class FunnelReportStageDto {
  /** @example "signup" */
  stage!: string;
  /** Subjects (counted once each) that reached this stage or a later one. */
  @ApiProperty({ type: 'integer' })
  subjects!: number;
  /**
   * Share of the previous stage's subjects that reached this one, 0–1; null for the first stage or when the previous stage is empty.
   * @example 0.4
   */
  conversion_from_previous!: number | null;
  /**
   * Share of the first stage's subjects that reached this one, 0–1; null when nobody entered.
   * @example 0.1
   */
  conversion_from_first!: number | null;
  /**
   * Median seconds from reaching the previous stage to reaching this one; null for the first stage or when no subject reached this one.
   * @example 3600
   */
  median_seconds_from_previous!: number | null;
}

export class FunnelReportResponseDto {
  /** @example "default" */
  funnel!: string;
  /** @example "2026-11-01" */
  @ApiProperty({ format: 'date' })
  start_date!: string;
  /** @example "2026-11-26" */
  @ApiProperty({ format: 'date' })
  end_date!: string;
  /** @example "UTC" */
  timezone!: string;
  /** Every stage in order, from the subjects that entered the funnel within the range. */
  stages!: FunnelReportStageDto[];
}
