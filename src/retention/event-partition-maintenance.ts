import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { SqlState, sqlState } from '../common/sql-state';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { Database, Sql } from '../persistence/database';
import { AttributionRefreshRepository } from '../reporting/rollup/attribution-refresh.repository';
import { rollupDeltas } from '../reporting/rollup/conversion-credits';
import {
  DERIVED_TABLE_NAMES,
  DerivedStateRepository,
  WalkPosition,
} from './derived-state.repository';
import {
  EventPartitionsRepository,
  MonthlyPartition,
  isLockTimeout,
} from './event-partitions.repository';
import { StrayEventMover } from './stray-event-mover';

const JOB_NAME = 'event-partitions';
/** Hourly, off the hour: partitions exist months ahead, so an hour late never matters. */
const SCHEDULE = '23 * * * *';
const MONTHS_AHEAD = 3;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Blocks of a dropped month (~2,500 events) whose conversions' credit leaves the rollup per transaction. */
const BLOCKS_PER_PASS = 250;
/** Idempotency keys of a dropped month forgotten per statement. */
const KEYS_PER_PASS = 50_000;

/**
 * Keeps `events` partitioned by month: creates the partitions for the months ahead
 * (and for any events that fell into the default partition), and with
 * EVENT_RETENTION_DAYS drops each month once all of it is older than that. Before a
 * month goes, the credit its conversions gave is taken out of the attribution rollup,
 * under the refresher's lock, so reports stay equal to what the raw events give.
 * Runs at start and hourly on every replica; locks make the work safe to repeat.
 */
@Injectable()
export class EventPartitionMaintenance
  implements OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly logger = new Logger(EventPartitionMaintenance.name);
  private running: Promise<void> = Promise.resolve();
  /** Set at shutdown: a walk of the derived state stops between statements, unfinished. */
  private stopping = false;

  constructor(
    private readonly database: Database,
    private readonly partitions: EventPartitionsRepository,
    private readonly strays: StrayEventMover,
    private readonly derivedState: DerivedStateRepository,
    private readonly rollup: AttributionRefreshRepository,
    private readonly registry: SchedulerRegistry,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const job = CronJob.from({
      cronTime: SCHEDULE,
      timeZone: 'UTC',
      onTick: () => void this.runInBackground(),
    });
    this.registry.addCronJob(JOB_NAME, job);
    job.start();
    void this.runInBackground();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  /**
   * One maintenance pass; the scheduled runs call it, and so may an operator's tool or a
   * test. Its steps are independent: one that fails (a long query holding `events`, a
   * partition made by hand over a month) holds up neither of the others, and the first
   * failure is thrown once all have run.
   */
  async maintain(now = new Date()): Promise<{ created: number; dropped: string[] }> {
    const failures: unknown[] = [];
    const step = <T>(work: () => Promise<T>, instead: T): Promise<T> =>
      work().catch((error: unknown) => {
        failures.push(error);
        return instead;
      });
    const created = await step(() => this.createMonthsAhead(now), 0);
    const dropped = await step(() => this.applyRetention(now), []);
    // Last: moving many rows, or walking whole tables, may take long.
    const moved = await step(() => this.strays.moveAll(() => this.stopping), 0);
    await step(() => this.pruneDerivedState(now), 0);
    // The first is thrown (and logged by the caller); the others would go unseen.
    for (const failure of failures.slice(1))
      this.logger.error(`Event partition maintenance: ${String(failure)}`);
    if (failures.length > 0) throw failures[0];
    return { created: created + moved, dropped };
  }

  private async createMonthsAhead(now: Date): Promise<number> {
    const earliest = new Date(now.getTime() - this.config.tracking.maxEventAgeHours * HOUR_MS);
    const ahead = new Date(now);
    ahead.setUTCMonth(ahead.getUTCMonth() + MONTHS_AHEAD);
    const created = await this.database.transaction((sql) =>
      this.partitions.ensure(sql, earliest, ahead),
    );
    if (created > 0) this.logger.log(`Created ${created} monthly partition(s) of events`);
    return created;
  }

  private async applyRetention(now: Date): Promise<string[]> {
    const { retentionDays } = this.config.tracking;
    // Unset: only drops cut short after their detach (retention was on then) are finished.
    const cutoff = this.cutoff(now);
    const dropped: string[] = [];
    for (const partition of await this.partitions.endingBy(this.database, cutoff))
      if (await this.dropMonth(partition)) dropped.push(partition.name);
    // Only what this process dropped: a replica passing at once finishes the rest.
    if (dropped.length > 0)
      this.logger.log(
        `EVENT_RETENTION_DAYS=${retentionDays ?? '(unset)'}: dropped ${dropped.join(', ')} with their events`,
      );
    return dropped;
  }

  /**
   * Funnel state, identity links and explicit funnel updates derived only from events
   * that retention dropped go too, once every month before the cutoff's is gone (a drop
   * that gave up leaves its events, and so what they gave, until it is done). Each table
   * is walked once per month of horizon, in short statements; the horizon reached is
   * stored, so replicas starting later skip it (replicas passing at the same hour may each
   * walk: the work is safe to repeat).
   */
  private async pruneDerivedState(now: Date): Promise<number> {
    const cutoff = this.cutoff(now);
    if (cutoff === null) return 0;
    const horizon = new Date(Date.UTC(cutoff.getUTCFullYear(), cutoff.getUTCMonth(), 1));
    const done = await this.derivedState.prunedBefore(this.database);
    if (done !== null && done >= horizon) return 0;
    // Events before the horizon still there (a drop or a stray move that failed): later.
    if ((await this.partitions.endingBy(this.database, cutoff)).length > 0) return 0;
    if (await this.strays.leftBefore(horizon)) return 0;
    let deleted = 0;
    for (const table of DERIVED_TABLE_NAMES) {
      let after: WalkPosition = null;
      do {
        const pass = await this.database.transaction((sql) =>
          this.derivedState.prunePass(sql, table, horizon, after),
        );
        deleted += pass.deleted;
        after = pass.next;
        if (this.stopping) return deleted; // the next start walks again
      } while (after !== null);
    }
    await this.derivedState.markPruned(this.database, horizon);
    if (deleted > 0)
      this.logger.log(
        `EVENT_RETENTION_DAYS=${this.config.tracking.retentionDays}: removed ${deleted} rows of funnel state, identity links and funnel updates from before ${horizon.toISOString().slice(0, 10)}`,
      );
    return deleted;
  }

  /** The instant before which events are dropped; null when EVENT_RETENTION_DAYS is unset. */
  private cutoff(now: Date): Date | null {
    const { retentionDays } = this.config.tracking;
    return retentionDays === undefined ? null : new Date(now.getTime() - retentionDays * DAY_MS);
  }

  /**
   * The partition is detached first, under the refresher's lock: the refresher's passes
   * read `events` under it too, so none can add credit for its conversions afterwards.
   * The detach may give up (a long report holds `events`), and then nothing has changed.
   * Once detached, the table is renamed `retiring_events_YYYY_MM`, so a drop cut short is
   * finished by the next run (whatever EVENT_RETENTION_DAYS is then), and no table
   * detached by anyone else is taken for one. Its credit then leaves the rollup in short
   * passes (each under the refresher's lock, so reports never wait long on it) before the
   * table goes. Replicas may run the same drop at once: each step is safe to repeat, and
   * a table gone meanwhile means another replica finished it. True when this process
   * dropped the table.
   */
  private async dropMonth(month: MonthlyPartition): Promise<boolean> {
    let partition = month;
    let dropped = false;
    try {
      if (partition.attached)
        partition = await this.database.transaction(async (sql) => {
          await this.rollup.lock(sql);
          return this.partitions.detach(sql, partition);
        });
      await this.forgetCredits(partition);
      // Its keys last but before the table: a drop cut short in between is finished by the
      // next pass, which finds the table. Detached, the month already takes no duplicate.
      while ((await this.partitions.forgetKeysOf(this.database, partition, KEYS_PER_PASS)) > 0);
      await this.database.transaction((sql) => this.partitions.drop(sql, partition));
      dropped = true;
    } catch (error) {
      if (sqlState(error) !== SqlState.undefinedTable) throw error;
    }
    return dropped;
  }

  private async forgetCredits(partition: MonthlyPartition): Promise<void> {
    const blocks = await this.partitions.blocksOf(this.database, partition);
    for (let from = 0; from < blocks; from += BLOCKS_PER_PASS)
      await this.database.transaction(async (sql) => {
        await this.rollup.lock(sql);
        await this.forgetCreditsIn(sql, partition, from);
      });
  }

  /** Takes the credit of the conversions in one range of the partition's blocks out of the rollup. */
  private async forgetCreditsIn(
    sql: Sql,
    partition: MonthlyPartition,
    from: number,
  ): Promise<void> {
    const credits = await this.partitions.creditsIn(sql, partition, from, from + BLOCKS_PER_PASS);
    if (credits.size === 0) return;
    const none = new Map([...credits.keys()].map((eventId) => [eventId, []]));
    await this.rollup.applyDeltas(sql, rollupDeltas(credits, none));
    await this.partitions.deleteCredits(sql, [...credits.keys()]);
  }

  private runInBackground(): Promise<void> {
    this.running = this.running
      .then(() => this.maintain())
      .then(
        () => undefined,
        (error: unknown) => {
          if (isLockTimeout(error))
            this.logger.warn(
              'Event partition maintenance: events is busy (a long query); next pass retries',
            );
          else this.logger.error(`Event partition maintenance failed: ${String(error)}`);
        },
      );
    return this.running;
  }
}
