import { IsOptional, IsString } from 'class-validator';
import { IsOptionalQueryBoolean } from '../../common/dto/query-boolean';
import { ApiPropertyOptional } from '@nestjs/swagger';

export class ReconcileQueryDto {
  /**
   * First day (inclusive), `YYYY-MM-DD`, a day of the GA4 property; default 6 days before `end_date`.
   * @example "2026-11-18"
   */
  @ApiPropertyOptional({ format: 'date' })
  @IsOptional()
  @IsString()
  start_date?: string;

  /**
   * Last day (inclusive), `YYYY-MM-DD`, a day of the GA4 property; default the property's yesterday.
   * @example "2026-11-24"
   */
  @ApiPropertyOptional({ format: 'date' })
  @IsOptional()
  @IsString()
  end_date?: string;

  /** Count our events flagged as bots too (GA4 leaves known bots out of its own counts). */
  @IsOptionalQueryBoolean()
  include_bots?: boolean = false;
}
