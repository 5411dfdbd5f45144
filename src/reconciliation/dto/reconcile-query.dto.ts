import { IsOptional, IsString } from 'class-validator';
import { IsOptionalQueryBoolean } from '../../common/dto/query-boolean';

export class ReconcileQueryDto {
  /**
   * First day (inclusive), `YYYY-MM-DD`, a day of the GA4 property; default 6 days before `end_date`.
   * @example "2026-11-18"
   */
  @IsOptional()
  @IsString()
  start_date?: string;

  /**
   * Last day (inclusive), `YYYY-MM-DD`; default yesterday (in REPORT_TIMEZONE).
   * @example "2026-11-24"
   */
  @IsOptional()
  @IsString()
  end_date?: string;

  /** Count our events flagged as bots too (GA4 leaves known bots out of its own counts). */
  @IsOptionalQueryBoolean()
  include_bots?: boolean = false;
}
