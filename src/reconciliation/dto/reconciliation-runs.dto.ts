import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptionalQueryInteger } from '../../common/dto/query-integer';
import { RUN_STATUSES, RUN_TRIGGERS } from '../reconciliation-run.entity';
import { ReconciliationReportDto } from './reconciliation-report.dto';

export class RunsQueryDto {
  /**
   * Runs per page, 1–100.
   * @example 20
   */
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 20 })
  @IsOptionalQueryInteger(1, 100)
  limit?: number;

  /**
   * Runs to skip (newest first).
   * @example 0
   */
  // A million runs is centuries of daily ones; beyond PostgreSQL's bigint it would be a 500.
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 })
  @IsOptionalQueryInteger(0, 1_000_000)
  offset?: number;
}

export class RunErrorDto {
  /** @example "ga4_unavailable" */
  code!: string;
  /** @example "GA4 is unavailable: no answer within 10000 ms" */
  message!: string;
}

export class ReconciliationRunSummaryDto {
  /** @example "3f2b8a4e-8c1d-4a9e-9b7a-2d1c0e5f6a7b" */
  @ApiProperty({ format: 'uuid' })
  id!: string;
  @ApiProperty({ enum: RUN_TRIGGERS, example: 'schedule' })
  trigger!: (typeof RUN_TRIGGERS)[number];
  /** The cron tick of a scheduled run. */
  @ApiProperty({ format: 'date-time', nullable: true })
  scheduled_for!: string | null;
  /** @example "2026-11-23" */
  @ApiProperty({ format: 'date' })
  start_date!: string;
  /** @example "2026-11-25" */
  @ApiProperty({ format: 'date' })
  end_date!: string;
  /** `running`: a replica is at it now (a retry's `error` is still its last failure). */
  @ApiProperty({ enum: RUN_STATUSES, example: 'succeeded' })
  status!: (typeof RUN_STATUSES)[number];
  /** @example 1 */
  @ApiProperty({ type: 'integer' })
  attempts!: number;
  @ApiProperty({ format: 'date-time' })
  started_at!: string;
  @ApiProperty({ format: 'date-time', nullable: true })
  finished_at!: string | null;
  /** The report's status, once the run succeeded. */
  @ApiProperty({ enum: ['ok', 'discrepancies'], nullable: true, example: 'ok' })
  report_status!: 'ok' | 'discrepancies' | null;
  /** The last failure, if any (`interrupted`: its process stopped or died before it was done). */
  error!: RunErrorDto | null;
}

export class ReconciliationRunDto extends ReconciliationRunSummaryDto {
  /** The stored report of a successful run. */
  report!: ReconciliationReportDto | null;
}

export class ReconciliationRunsPageDto {
  runs!: ReconciliationRunSummaryDto[];
  /** @example 20 */
  @ApiProperty({ type: 'integer' })
  limit!: number;
  /** @example 0 */
  @ApiProperty({ type: 'integer' })
  offset!: number;
  /** @example 42 */
  @ApiProperty({ type: 'integer' })
  total!: number;
}
