import { IsOptional, IsString } from 'class-validator';
import { ApiPropertyOptional } from '@nestjs/swagger';

/** The date range of a report; checked as real calendar dates by `resolveDateRange`. */
export class DateRangeQueryDto {
  /**
   * First day (inclusive), `YYYY-MM-DD` in REPORT_TIMEZONE; default 30 days before `end_date`.
   * @example "2026-10-27"
   */
  @ApiPropertyOptional({ format: 'date' })
  @IsOptional()
  @IsString()
  start_date?: string;

  /**
   * Last day (inclusive), `YYYY-MM-DD` in REPORT_TIMEZONE; default today.
   * @example "2026-11-26"
   */
  @ApiPropertyOptional({ format: 'date' })
  @IsOptional()
  @IsString()
  end_date?: string;
}
