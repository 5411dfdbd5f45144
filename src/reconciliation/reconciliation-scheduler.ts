import { randomUUID } from 'node:crypto';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { Database } from '../persistence/database';
import { Ga4NotConfiguredError } from '../ga4/ga4.errors';
import { hasGa4Settings } from '../ga4/ga4-clients';
import { ReconciliationRunRepository } from './reconciliation-run.repository';
import { ReconciliationReport, ReconciliationService } from './reconciliation.service';
import { Lease } from './reconciliation-run.repository';
import { RunLease } from './run-lease';

const JOB_NAME = 'reconciliation';
/** A failed run is tried again this many times, after RECONCILE_RETRY_DELAY_MS doubled each time. */
const MAX_RETRIES = 3;
/** Bounds on how often a replica looks for an interrupted run (RECONCILE_RETRY_DELAY_MS, clamped). */
const TAKE_OVER_LOOK_MS = { min: 1_000, max: 300_000 };

/**
 * Runs the reconciliation on RECONCILE_CRON (UTC) over the last RECONCILE_LOOKBACK_DAYS
 * days ending yesterday and stores each run. Every replica's cron fires; a transaction-level
 * advisory lock lets one claim at a time and the run's unique `scheduled_for` lets one
 * take each tick, so GA4 is asked once per tick. The claim is a lease (RECONCILE_LEASE_MS,
 * renewed while the run lasts), committed before GA4 is asked: no transaction or lock
 * stays open while it answers. Failures are stored with their error and retried with
 * backoff; nothing here may crash the process. A run cut short because its process
 * stopped (a deploy), in flight or waiting for a retry, is stored as interrupted, and so is
 * one whose lease lapsed (its process died); every replica looks for one at start and then
 * every RECONCILE_RETRY_DELAY_MS (within 1 s–5 min), and the first to claim it runs it again.
 */
@Injectable()
export class ReconciliationScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ReconciliationScheduler.name);
  /** Retries waiting for their time or their turn, with the run each is for. */
  private readonly retries = new Map<NodeJS.Timeout, ScheduledRun>();
  private takeOverTimer: NodeJS.Timeout | undefined;
  /** Runs taken over whose attempts are not over yet in this process: a later look leaves them. */
  private readonly takenOver = new Set<string>();
  private nextTick: Date | undefined;
  private running: Promise<void> = Promise.resolve();
  /** Aborted at shutdown: a run waiting on GA4 fails at once (and is stored so) rather than holding the exit. */
  private readonly stopping = new AbortController();
  /** This process's claim on the runs it works on. */
  private readonly lease: Lease;

  constructor(
    private readonly registry: SchedulerRegistry,
    private readonly reconciliation: ReconciliationService,
    private readonly runs: ReconciliationRunRepository,
    private readonly database: Database,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    this.lease = { owner: randomUUID(), ms: config.reconciliation.leaseMs };
  }

  onApplicationBootstrap(): void {
    const { cron } = this.config.reconciliation;
    if (cron === undefined) return;
    if (!hasGa4Settings(this.config.ga4))
      this.logger.warn(
        `Scheduled reconciliation is on (RECONCILE_CRON="${cron}", UTC; "off" turns it off) but GA4 is not set up: each scheduled run will be stored as failed (ga4_not_configured) until GA4_PROPERTY_ID and GA4_CREDENTIALS_FILE are set`,
      );
    const { statementTimeoutMs, connectTimeoutMs } = this.config.database;
    const slowRenewals = 3 * (statementTimeoutMs + connectTimeoutMs);
    if (this.lease.ms < slowRenewals)
      this.logger.warn(
        `RECONCILE_LEASE_MS=${this.lease.ms} is shorter than three renewals of a run's claim may take on a slow database (3 × (DB_STATEMENT_TIMEOUT_MS + DB_CONNECT_TIMEOUT_MS) = ${slowRenewals} ms): runs will be given up and taken over when it is slow`,
      );
    const job = CronJob.from({
      cronTime: cron,
      timeZone: 'UTC',
      onTick: () => {
        // Replicas agree on the tick's nominal time, not on when their timers fired.
        const scheduledFor = this.nextTick ?? new Date();
        this.nextTick = job.nextDate().toJSDate();
        this.running = this.running.then(() => this.runTick(scheduledFor));
      },
    });
    this.registry.addCronJob(JOB_NAME, job);
    this.nextTick = job.nextDate().toJSDate();
    job.start();
    const lookForInterrupted = () => {
      this.running = this.running.then(() => this.takeOverInterrupted());
    };
    lookForInterrupted();
    const { min, max } = TAKE_OVER_LOOK_MS;
    const every = Math.min(Math.max(this.config.reconciliation.retryDelayMs, min), max);
    this.takeOverTimer = setInterval(lookForInterrupted, every);
    this.takeOverTimer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.registry.doesExist('cron', JOB_NAME)) await this.registry.getCronJob(JOB_NAME).stop();
    clearInterval(this.takeOverTimer);
    this.stopping.abort();
    const waiting = [...this.retries].flatMap(([timer, run]) => {
      clearTimeout(timer);
      return run.runId === undefined ? [] : [run.runId];
    });
    this.retries.clear();
    await this.running;
    // Their retries would die with this process: another replica takes them over.
    if (waiting.length > 0) {
      await this.runs
        .markInterrupted(waiting)
        .catch((error) => this.logger.error(`Could not hand over retries: ${String(error)}`));
    }
  }

  private async runTick(scheduledFor: Date): Promise<void> {
    await this.attempt({ scheduledFor }, 0);
  }

  /** Queues the latest tick's run when a stopping process cut it short; errors are only logged. */
  private async takeOverInterrupted(): Promise<void> {
    try {
      for (const id of await this.runs.expireLeases())
        this.logger.warn(
          `Reconciliation run ${id}: its replica's claim lapsed unrenewed; stored as interrupted`,
        );
      const run = await this.runs.latestInterrupted(MAX_RETRIES);
      if (run === undefined || this.takenOver.has(run.runId) || this.stopping.signal.aborted)
        return;
      this.takenOver.add(run.runId);
      await this.attempt({ ...run, takenOver: true }, run.attempts);
    } catch (error) {
      this.logger.error(`Looking for an interrupted reconciliation failed: ${String(error)}`);
    }
  }

  private lastDays(scheduledFor: Date) {
    return this.reconciliation.lastDays(this.config.reconciliation.lookbackDays, scheduledFor);
  }

  /**
   * One attempt; `runId` undefined means the tick is still to be claimed. The claim is
   * made under the schedule lock and committed before GA4 is asked, so no transaction
   * stays open while it answers. A failed run, or an attempt the database did not let
   * happen, is tried again with backoff; a retry that finds another replica claiming
   * waits its turn without using up an attempt.
   */
  private async attempt(run: ScheduledRun, retry: number): Promise<void> {
    // Queued before the shutdown began: left for another replica, untouched.
    if (this.stopping.signal.aborted) return;
    let claim: Claim;
    let claimSentAt = Date.now();
    try {
      const days = await this.daysToClaim(run);
      // After the zone's lookup: the claim's lease is counted from here.
      claimSentAt = Date.now();
      claim = await this.claim(run, days);
    } catch (error) {
      // Nothing was claimed: the next attempt claims the tick, or the run, again.
      this.logger.error(`Scheduled reconciliation could not run: ${String(error)}`);
      return this.afterAttempt(run, retry, 'failed');
    }
    if (claim === 'deferred') return this.afterAttempt(run, retry, 'deferred');
    if (claim === 'none') return this.afterAttempt(run, retry, 'done');
    const claimed = { ...run, ...claim };
    // Once this process has run it, a run taken over is its own to retry.
    const outcome = await this.runClaimed(claimed, claimSentAt);
    this.afterAttempt({ ...claimed, takenOver: false }, retry, outcome);
  }

  /**
   * A tick's days are counted as it is claimed: a retry after the database was away reads
   * the property's zone again. They are listed until its report gives the property's own.
   */
  private async daysToClaim(run: ScheduledRun): Promise<{ startDate: string; endDate: string }> {
    if (run.runId !== undefined) return { startDate: run.startDate!, endDate: run.endDate! };
    return this.lastDays(run.scheduledFor)(await this.reconciliation.likelyPropertyZone());
  }

  /** 'none': another replica took the tick, or the run needs no retry any more. */
  private claim(run: ScheduledRun, days: { startDate: string; endDate: string }): Promise<Claim> {
    return this.database.transaction(async (sql) => {
      // A tick not yet claimed is another replica's to take; a known run waits.
      if (!(await this.runs.tryLockSchedule(sql)))
        return run.runId === undefined ? 'none' : 'deferred';
      const runId =
        run.runId === undefined
          ? await this.runs.claimTick(sql, { scheduledFor: run.scheduledFor, ...days }, this.lease)
          : (await this.runs.reclaim(sql, run.runId, run.takenOver === true, this.lease)) &&
            run.runId;
      return runId ? { runId, ...days } : 'none';
    });
  }

  private async runClaimed(run: ScheduledRun & ClaimedRun, claimSentAt: number): Promise<Outcome> {
    const lease = new RunLease(this.runs, run.runId, this.lease, this.logger, claimSentAt);
    const days = `${run.startDate}..${run.endDate}`;
    try {
      let result: { report: ReconciliationReport } | { error: unknown };
      try {
        const signal = AbortSignal.any([this.stopping.signal, lease.lost]);
        result = {
          report: await this.reconciliation.reconcile(this.lastDays(run.scheduledFor), { signal }),
        };
      } catch (error) {
        result = { error };
      }
      if (lease.lost.aborted) {
        this.logger.warn(
          `Reconciliation ${days} left to another replica: ${String(lease.lost.reason)}`,
        );
        return 'done';
      }
      const takenOver = () => {
        this.logger.warn(`Reconciliation ${days} was taken over by another replica meanwhile`);
        return 'done' as const;
      };
      if ('report' in result) {
        if (!(await this.runs.finish(run.runId, result, this.lease.owner))) return takenOver();
        this.logger.log(`Reconciliation ${days}: ${result.report.status}`);
        return 'done';
      }
      if (this.stopping.signal.aborted) {
        await this.runs.interrupt(run.runId, this.lease.owner);
        this.logger.warn(`Reconciliation ${days} cut short by shutdown`);
        return 'done';
      }
      const { message, stored } = await this.runs.fail(run.runId, result.error, this.lease.owner);
      // Its retries are the other replica's now.
      if (!stored) return takenOver();
      this.logger.warn(`Reconciliation ${days} failed: ${message}`);
      // Settings are read at start: without them a retry could only fail the same way
      // (a key file not readable yet is read again, and may be by the retry).
      const settingsMissing =
        result.error instanceof Ga4NotConfiguredError && !hasGa4Settings(this.config.ga4);
      return settingsMissing ? 'done' : 'failed';
    } catch (error) {
      // Its claim lapses unrenewed, and a running replica takes it over then.
      this.logger.error(`Could not store reconciliation ${days}: ${String(error)}`);
      return 'done';
    } finally {
      lease.stop();
    }
  }

  private afterAttempt(run: ScheduledRun, retry: number, outcome: Outcome): void {
    if (this.stopping.signal.aborted) return;
    if (outcome === 'deferred') this.retryLater(run, retry);
    else if (outcome === 'failed' && retry < MAX_RETRIES) this.retryLater(run, retry + 1);
    else if (run.runId !== undefined) this.takenOver.delete(run.runId);
  }

  private retryLater(run: ScheduledRun, retry: number): void {
    const delay = this.config.reconciliation.retryDelayMs * 2 ** Math.max(retry - 1, 0);
    if (run.runId !== undefined)
      this.runs
        .holdForRetry(run.runId, this.lease.owner, delay + this.lease.ms)
        .catch((error: unknown) =>
          this.logger.error(`Could not hold reconciliation run ${run.runId}: ${String(error)}`),
        );
    // Waiting until its attempt starts, not only until its time: one queued behind another
    // run when the process stops is handed over with the others.
    const timer = setTimeout(() => {
      this.running = this.running.then(() => {
        this.retries.delete(timer);
        return this.attempt(run, retry);
      });
    }, delay);
    timer.unref();
    this.retries.set(timer, run);
  }
}

type Outcome = 'done' | 'failed' | 'deferred';
interface ClaimedRun {
  runId: string;
  startDate: string;
  endDate: string;
}
type Claim = ClaimedRun | 'deferred' | 'none';

interface ScheduledRun {
  scheduledFor: Date;
  /** Set once the tick is claimed (stored as a run), with the days it is listed with. */
  runId?: string;
  startDate?: string;
  endDate?: string;
  /** A run another process's shutdown cut short: run again only while it is still so. */
  takenOver?: boolean;
}
