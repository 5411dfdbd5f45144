import { ApiProperty } from '@nestjs/swagger';

const ROW_STATUSES = ['match', 'warning', 'critical', 'missing_in_ga4', 'missing_in_db'] as const;

export class ReconciliationThresholdsDto {
  /** @example 5 */
  warning_pct!: number;
  /** @example 20 */
  critical_pct!: number;
}

export class ReconciliationSummaryDto {
  /** @example 980 */
  @ApiProperty({ type: 'integer' })
  ga4_total!: number;
  /** @example 1012 */
  @ApiProperty({ type: 'integer' })
  db_total!: number;
  /**
   * `db_total − ga4_total`.
   * @example 32
   */
  @ApiProperty({ type: 'integer' })
  difference!: number;
  /**
   * `difference / ga4_total × 100`, 2 decimals; null when GA4 counted none.
   * @example 3.27
   */
  difference_pct!: number | null;
}

export class ReconciliationRowDto {
  /** @example "2026-11-20" */
  @ApiProperty({ format: 'date' })
  date!: string;
  /** @example "purchase" */
  event_type!: string;
  /** @example "purchase" */
  ga4_event_name!: string;
  /** @example 120 */
  @ApiProperty({ type: 'integer' })
  ga4_count!: number;
  /** @example 126 */
  @ApiProperty({ type: 'integer' })
  db_count!: number;
  /** @example 6 */
  @ApiProperty({ type: 'integer' })
  difference!: number;
  /** @example 5 */
  difference_pct!: number | null;
  @ApiProperty({ enum: ROW_STATUSES, example: 'warning' })
  status!: (typeof ROW_STATUSES)[number];
  /** Within the last 48 hours: GA4 may still be processing the day. */
  provisional!: boolean;
}

export class Ga4MetadataDto {
  subject_to_thresholding!: boolean;
  sampled!: boolean;
  data_loss_from_other_row!: boolean;
}

export class ReconciliationReportDto {
  /** @example "2026-11-18" */
  @ApiProperty({ format: 'date' })
  start_date!: string;
  /** @example "2026-11-24" */
  @ApiProperty({ format: 'date' })
  end_date!: string;
  /**
   * The GA4 property's time zone, in which both sides' days are counted.
   * @example "America/Los_Angeles"
   */
  time_zone!: string;
  /** @example "123456789" */
  property_id!: string;
  @ApiProperty({ enum: ['ok', 'discrepancies'], example: 'discrepancies' })
  status!: 'ok' | 'discrepancies';
  thresholds!: ReconciliationThresholdsDto;
  summary!: ReconciliationSummaryDto;
  rows!: ReconciliationRowDto[];
  ga4_metadata!: Ga4MetadataDto;
  /** @example ["Rows from 2026-11-24 on are provisional: GA4 is still processing the last 48 hours, so its counts for them may still rise."] */
  notes!: string[];
}
