import { Entity, Index, PrimaryKey, Property, Unique } from '@mikro-orm/core';

export const RUN_TRIGGERS = ['schedule', 'command'] as const;
export const RUN_STATUSES = ['running', 'succeeded', 'failed'] as const;

/** One reconciliation run: by the schedule or from the command line, with its report or its error. */
@Entity({ tableName: 'reconciliation_runs' })
@Index({ name: 'reconciliation_runs_started_index', properties: ['startedAt', 'id'] })
@Index({
  name: 'reconciliation_runs_lease_index',
  expression:
    'create index "reconciliation_runs_lease_index" on "reconciliation_runs" ("lease_until") where "status" = \'running\'',
})
export class ReconciliationRun {
  @PrimaryKey({ type: 'uuid', defaultRaw: 'gen_random_uuid()' })
  id!: string;

  @Property({ type: 'text' })
  trigger!: (typeof RUN_TRIGGERS)[number];

  /** The cron tick a scheduled run belongs to: unique, so replicas run each tick once. */
  @Property({ type: 'timestamptz', nullable: true })
  @Unique({ name: 'reconciliation_runs_scheduled_for_unique' })
  scheduledFor?: Date;

  @Property({ type: 'date' })
  startDate!: string;

  @Property({ type: 'date' })
  endDate!: string;

  @Property({ type: 'text' })
  status!: (typeof RUN_STATUSES)[number];

  @Property({ type: 'integer', default: 1 })
  attempts!: number;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  startedAt!: Date;

  @Property({ type: 'timestamptz', nullable: true })
  finishedAt?: Date;

  /** The reconciliation report, once a run succeeded. */
  @Property({ type: 'jsonb', nullable: true })
  report?: Record<string, unknown>;

  /** The process running a scheduled run, until `leaseUntil` unless it renews it. */
  @Property({ type: 'uuid', nullable: true })
  leaseOwner?: string;

  @Property({ type: 'timestamptz', nullable: true })
  leaseUntil?: Date;

  /** `{code, message}` of the last failure. */
  @Property({ type: 'jsonb', nullable: true })
  error?: { code: string; message: string };
}
