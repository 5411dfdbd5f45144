import { Injectable } from '@nestjs/common';
import { toDomainError } from '../common/http/error-mapping';
import { Database, Sql } from '../persistence/database';
import { ReconciliationRunDto, ReconciliationRunSummaryDto } from './dto/reconciliation-runs.dto';
import { ReconciliationReport } from './reconciliation.service';

interface RunRow {
  id: string;
  trigger: 'schedule' | 'command';
  scheduled_for: string | null;
  start_date: string;
  end_date: string;
  status: 'running' | 'succeeded' | 'failed';
  attempts: number;
  started_at: string;
  finished_at: string | null;
  report: ReconciliationReport | null;
  error: { code: string; message: string } | null;
}

export interface InterruptedRun {
  runId: string;
  scheduledFor: Date;
  startDate: string;
  endDate: string;
  attempts: number;
}

/** The error code of a run cut short by its process stopping: a running replica takes a scheduled one up. */
const INTERRUPTED = 'interrupted';

const INTERRUPTED_ERROR = {
  code: INTERRUPTED,
  message:
    'The service stopped before the run was done; a running replica runs it again, unless a later tick has run since',
};

const COMMAND_INTERRUPTED_ERROR = {
  code: INTERRUPTED,
  message: 'The command was stopped before the run was done',
};

const LAPSED_ERROR = {
  code: INTERRUPTED,
  message:
    'The process running it stopped renewing its claim before the run was done (it died or lost the database); a scheduled run is run again by a running replica, unless a later tick has run since',
};

/**
 * A run whose claim lapsed reads as what expireLeases stores for it, even where no replica
 * looks for lapsed runs (every schedule off, a command killed): `running` only while claimed.
 * A version before leases, still running during a rolling deploy, leaves no `lease_until`:
 * such a run lapses an hour after it started, as the migration that added leases let the
 * runs it found lapse an hour after it.
 */
const LAPSED = `status = 'running' AND (lease_until < clock_timestamp()
  OR (lease_until IS NULL AND started_at < clock_timestamp() - interval '1 hour'))`;

const COLUMNS = `id, trigger, to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS scheduled_for,
  start_date::text, end_date::text, CASE WHEN ${LAPSED} THEN 'failed' ELSE status END AS status, attempts,
  to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS started_at,
  to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS finished_at, report,
  CASE WHEN ${LAPSED} THEN '${JSON.stringify(LAPSED_ERROR)}'::jsonb ELSE error END AS error`;

/**
 * A failed run whose retry no process will make: its process stopped (and said so), or
 * died while holding it for a retry (the hold lapsed).
 */
const CUT_SHORT = `(error->>'code' = '${INTERRUPTED}'
  OR (lease_owner IS NOT NULL AND lease_until < clock_timestamp()))`;

/** Only one replica at a time claims scheduled runs. */
const SCHEDULE_LOCK = `hashtext('conversion-tracking:reconciliation-schedule')`;

/** A run's claim: the process holding it, and for how long past each renewal. */
export interface Lease {
  owner: string;
  ms: number;
}

const LEASE_UNTIL = `clock_timestamp() + ? * interval '1 millisecond'`;

@Injectable()
export class ReconciliationRunRepository {
  constructor(private readonly database: Database) {}

  /** Whether this transaction holds the schedule lock (false: another replica is claiming). */
  async tryLockSchedule(sql: Sql): Promise<boolean> {
    const rows = await sql.query<{ locked: boolean }>(
      `SELECT pg_try_advisory_xact_lock(${SCHEDULE_LOCK}) AS locked`,
    );
    return rows[0]?.locked === true;
  }

  /** The property's time zone as its newest report gave it; null before any report. */
  async lastPropertyTimeZone(propertyId: string | null): Promise<string | null> {
    const rows = await this.database.query<{ zone: string }>(
      `SELECT report->>'time_zone' AS zone FROM reconciliation_runs
       WHERE status = 'succeeded' AND report->>'property_id' = ? AND report->>'time_zone' IS NOT NULL
       ORDER BY finished_at DESC LIMIT 1`,
      [propertyId],
    );
    return rows[0]?.zone ?? null;
  }

  /** The run of a cron tick, claimed; undefined when a replica has already taken the tick. */
  async claimTick(
    sql: Sql,
    run: { scheduledFor: Date; startDate: string; endDate: string },
    lease: Lease,
  ): Promise<string | undefined> {
    const rows = await sql.query<{ id: string }>(
      `INSERT INTO reconciliation_runs
         (trigger, scheduled_for, start_date, end_date, status, attempts, lease_owner, lease_until)
       VALUES ('schedule', ?, ?, ?, 'running', 0, ?, ${LEASE_UNTIL})
       ON CONFLICT (scheduled_for) DO NOTHING RETURNING id`,
      [run.scheduledFor.toISOString(), run.startDate, run.endDate, lease.owner, lease.ms],
    );
    return rows[0]?.id;
  }

  /**
   * Claims a failed run again (one taken over: only while it is still cut short); false
   * when it is no longer failed so (another replica ran it or is running it).
   */
  async reclaim(sql: Sql, id: string, takenOver: boolean, lease: Lease): Promise<boolean> {
    const rows = await sql.query<{ id: string }>(
      `UPDATE reconciliation_runs
       SET status = 'running', finished_at = NULL, lease_owner = ?, lease_until = ${LEASE_UNTIL}
       WHERE id = ? AND status = 'failed'
         AND CASE WHEN ? THEN ${CUT_SHORT} ELSE lease_owner IS NULL OR lease_owner = ?::uuid END
       RETURNING id`,
      [lease.owner, lease.ms, id, takenOver, lease.owner],
    );
    return rows.length === 1;
  }

  /**
   * Keeps a failed run this process will retry claimed until the retry and a lease more:
   * should the process die meanwhile (SIGKILL, a crash), the claim lapses and a running
   * replica takes the retry over.
   */
  async holdForRetry(id: string, owner: string, ms: number): Promise<void> {
    await this.database.query(
      `UPDATE reconciliation_runs SET lease_owner = ?, lease_until = ${LEASE_UNTIL}
       WHERE id = ? AND status = 'failed' AND (lease_owner IS NULL OR lease_owner = ?::uuid)`,
      [owner, ms, id, owner],
    );
  }

  /** Extends a run's claim; false when it is no longer this process's. */
  async renewLease(id: string, lease: Lease): Promise<boolean> {
    const rows = await this.database.query<{ id: string }>(
      `UPDATE reconciliation_runs SET lease_until = ${LEASE_UNTIL}
       WHERE id = ? AND status = 'running' AND lease_owner = ? RETURNING id`,
      [lease.ms, id, lease.owner],
    );
    return rows.length === 1;
  }

  /**
   * Runs whose claim lapsed unrenewed (their process died or lost the database), stored as
   * cut short for a running replica to take up. Counted as an attempt: a run that takes
   * its process down with it must not be taken up for ever.
   */
  async expireLeases(): Promise<string[]> {
    const rows = await this.database.query<{ id: string }>(
      `UPDATE reconciliation_runs
       SET status = 'failed', attempts = attempts + 1, finished_at = clock_timestamp(), error = ?::jsonb,
           lease_owner = NULL, lease_until = NULL
       WHERE ${LAPSED} RETURNING id`,
      [JSON.stringify(LAPSED_ERROR)],
    );
    return rows.map((row) => row.id);
  }

  /** A command's run, claimed by it as a scheduled one is: a killed command's run lapses. */
  async createCommandRun(
    run: { startDate: string; endDate: string },
    lease: Lease,
  ): Promise<string> {
    const rows = await this.database.query<{ id: string }>(
      `INSERT INTO reconciliation_runs (trigger, start_date, end_date, status, attempts, lease_owner, lease_until)
       VALUES ('command', ?, ?, 'running', 0, ?, ${LEASE_UNTIL}) RETURNING id`,
      [run.startDate, run.endDate, lease.owner, lease.ms],
    );
    return rows[0].id;
  }

  /**
   * Stores a run's outcome; false when the run was no longer `owner`'s to finish (its claim
   * lapsed and another replica took it over). A command's run has no owner.
   */
  async finish(
    id: string,
    outcome: { report: ReconciliationReport } | { error: { code: string; message: string } },
    owner: string | null = null,
  ): Promise<boolean> {
    const succeeded = 'report' in outcome;
    const rows = await this.database.query<{ id: string }>(
      // A report's days are the GA4 property's, which may differ by one from the claim's.
      `UPDATE reconciliation_runs
       SET status = ?, attempts = attempts + 1, finished_at = clock_timestamp(), report = ?::jsonb, error = ?::jsonb,
           start_date = coalesce(?::date, start_date), end_date = coalesce(?::date, end_date),
           lease_owner = NULL, lease_until = NULL
       WHERE id = ? AND status = 'running' AND lease_owner IS NOT DISTINCT FROM ?::uuid
       RETURNING id`,
      [
        succeeded ? 'succeeded' : 'failed',
        succeeded ? JSON.stringify(outcome.report) : null,
        succeeded ? null : JSON.stringify(outcome.error),
        succeeded ? outcome.report.start_date : null,
        succeeded ? outcome.report.end_date : null,
        id,
        owner,
      ],
    );
    return rows.length === 1;
  }

  /**
   * Stores a run as cut short by this process stopping (a scheduled one for another
   * process to take up). Not an attempt: it never got its answer.
   */
  async interrupt(id: string, owner: string): Promise<void> {
    await this.database.query(
      `UPDATE reconciliation_runs
       SET status = 'failed', finished_at = clock_timestamp(), lease_owner = NULL, lease_until = NULL,
           error = CASE WHEN trigger = 'command' THEN ?::jsonb ELSE ?::jsonb END
       WHERE id = ? AND status = 'running' AND lease_owner = ?`,
      [JSON.stringify(COMMAND_INTERRUPTED_ERROR), JSON.stringify(INTERRUPTED_ERROR), id, owner],
    );
  }

  /** Failed runs whose retry this stopping process would have made: another process takes them up. */
  async markInterrupted(ids: readonly string[]): Promise<void> {
    await this.database.query(
      `UPDATE reconciliation_runs SET error = ?::jsonb WHERE id = ANY(?::uuid[]) AND status = 'failed'`,
      // As an array literal: the query layer would spread a JS array into a list.
      [JSON.stringify(INTERRUPTED_ERROR), `{${ids.join(',')}}`],
    );
  }

  /** The latest tick's run when it was cut short by a stopping process, with attempts left. */
  async latestInterrupted(maxAttempts: number): Promise<InterruptedRun | undefined> {
    const rows = await this.database.query<
      Omit<InterruptedRun, 'scheduledFor'> & { scheduledFor: string }
    >(
      `SELECT id AS "runId", scheduled_for AS "scheduledFor", start_date::text AS "startDate",
              end_date::text AS "endDate", attempts
       FROM reconciliation_runs
       WHERE scheduled_for = (SELECT max(scheduled_for) FROM reconciliation_runs)
         AND status = 'failed' AND ${CUT_SHORT} AND attempts <= ?`,
      [maxAttempts],
    );
    return rows[0] && { ...rows[0], scheduledFor: new Date(rows[0].scheduledFor) };
  }

  /**
   * Stores why a run failed (its error code and message); `stored` false when the run was
   * no longer `owner`'s (see finish).
   */
  async fail(
    id: string,
    error: unknown,
    owner: string | null = null,
  ): Promise<{ message: string; stored: boolean }> {
    const domain = toDomainError(error);
    const message = domain?.message ?? (error instanceof Error ? error.message : String(error));
    const code = domain?.code ?? 'internal_error';
    return { message, stored: await this.finish(id, { error: { code, message } }, owner) };
  }

  async find(id: string): Promise<ReconciliationRunDto | undefined> {
    const rows = await this.database.query<RunRow>(
      `SELECT ${COLUMNS} FROM reconciliation_runs WHERE id = ?::uuid`,
      [id],
    );
    return rows[0] && { ...summary(rows[0]), report: rows[0].report };
  }

  async page(
    limit: number,
    offset: number,
  ): Promise<{ runs: ReconciliationRunSummaryDto[]; total: number }> {
    const rows = await this.database.query<RunRow>(
      `SELECT ${COLUMNS} FROM reconciliation_runs ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`,
      [limit, offset],
    );
    const total = await this.database.query<{ total: number }>(
      'SELECT count(*)::int AS total FROM reconciliation_runs',
    );
    return { runs: rows.map(summary), total: total[0]?.total ?? 0 };
  }
}

function summary(row: RunRow): ReconciliationRunSummaryDto {
  return {
    id: row.id,
    trigger: row.trigger,
    scheduled_for: row.scheduled_for,
    start_date: row.start_date,
    end_date: row.end_date,
    status: row.status,
    attempts: row.attempts,
    started_at: row.started_at,
    finished_at: row.finished_at,
    report_status: row.report?.status ?? null,
    error: row.error,
  };
}
