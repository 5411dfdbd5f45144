import { performance } from 'node:perf_hooks';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { InjectConfig } from '../../config/config.module';
import { MetricsService } from '../../metrics/metrics.service';
import { Database, Sql } from '../../persistence/database';
import { sqlState, SqlState } from '../../common/sql-state';
import { AttributionPassThread, PassThreadDownError } from './attribution-pass-thread';
import { AttributionRefreshRepository } from './attribution-refresh.repository';
import { isSettingsMismatch, settingsFingerprint } from './attribution-pass';

/** Marks folded per transaction when a report waits: large enough to amortise round trips. */
const MARKS_PER_PASS = 2_000;
/** A report drains at most this many passes; a larger backlog sends it to raw events. */
const MAX_DRAIN_PASSES = 10;
/**
 * In the background, while the process takes tracking traffic (more than
 * BUSY_EVENTS_PER_SECOND events accepted since the last pass), each pass is followed by a
 * pause twice as long, so the refresher takes at most a third of the time, and passes are
 * sized so that their credit computation stays near 4 ms: large when marks are cheap,
 * small when many conversions are recomputed. Passes run on a thread of their own
 * (AttributionPassThread), but that thread and PostgreSQL share the machine's cores with
 * the event loop that answers tracking requests. When the
 * process is quiet, passes run nearly back to back with 50 ms of computation, so a
 * rebuild or a backlog is folded as fast as PostgreSQL allows. A backlog it cannot keep
 * up with makes reports read raw events until it has caught up.
 */
const BUSY_EVENTS_PER_SECOND = 50;
const BACKGROUND_PACE = {
  busy: { computeTargetMs: 4, dutyCycle: 1 / 3 },
  quiet: { computeTargetMs: 50, dutyCycle: 0.9 },
};
const BACKGROUND_MARKS_RANGE = { min: 20, max: MARKS_PER_PASS };
/** How soon a start that found the refresh lock taken checks the settings again. */
const RESTART_CHECK_RETRY_MS = 1_000;

/**
 * Keeps the daily attribution rollup exact. Writes of events and links mark the
 * identities they affect (in the same statement); this folds marks into per-conversion
 * credit and the rollup, in transactions that consume the marks they fold, under an
 * advisory lock so replicas take turns. It runs in the background every
 * REPORT_REFRESH_INTERVAL_MS, and a report drains what is left before it reads, so a
 * report sees every event acknowledged before it was asked for.
 */
@Injectable()
export class AttributionRefresher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AttributionRefresher.name);
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private backgroundMarks = BACKGROUND_MARKS_RANGE.min;
  private eventsSeen = 0;
  private lastPassAt = performance.now();
  private warnedOfOtherSettings = false;

  constructor(
    private readonly database: Database,
    private readonly repository: AttributionRefreshRepository,
    private readonly passes: AttributionPassThread,
    private readonly metrics: MetricsService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const zoneWarning = await checkZoneAgainstDatabase(this.database, this.config.reportTimeZone);
    if (zoneWarning !== undefined) this.logger.warn(zoneWarning);
    // Never waits on another process: one that holds the lock (a long pass, or a restart
    // of its own) must not make this one's start fail. It is tried again in the background.
    if (!(await this.restartIfSettingsChanged())) this.retryRestartCheck();
    if (this.config.reportRefreshIntervalMs > 0)
      this.scheduleBackground(this.config.reportRefreshIntervalMs);
  }

  /**
   * Recomputes all credit when the stored settings are not this process's; false when
   * another process held the refresh lock, so nothing could be checked. Meanwhile reports
   * read raw events (the passes refuse the other settings' rollup).
   */
  private restartIfSettingsChanged(): Promise<boolean> {
    return this.database.longTransaction(async (sql) => {
      if (!(await this.repository.tryLock(sql))) return false;
      const fingerprint = this.fingerprint();
      if ((await this.repository.fingerprint(sql)) === fingerprint) return true;
      this.logger.log('Attribution settings changed (or first start): recomputing all credit');
      await this.repository.restart(sql, fingerprint);
      return true;
    });
  }

  private retryRestartCheck(): void {
    if (this.stopped) return;
    this.restartTimer = setTimeout(() => {
      const check = this.queue.catch(() => undefined).then(() => this.restartIfSettingsChanged());
      this.queue = check;
      check.then(
        (checked) => {
          if (!checked) this.retryRestartCheck();
        },
        (error: unknown) => {
          this.logger.warn(
            `Checking the attribution settings failed (tried again): ${tail(error)}`,
          );
          this.retryRestartCheck();
        },
      );
    }, RESTART_CHECK_RETRY_MS);
    this.restartTimer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.restartTimer);
    await this.queue.catch(() => undefined);
  }

  /** Folds every mark committed before the call; one drain at a time per process. */
  refresh(): Promise<void> {
    const drain = this.queue.catch(() => undefined).then(() => this.drain());
    this.queue = drain;
    return drain;
  }

  /** Whether so many marks wait that draining them would hold a report up for long. */
  hasLargeBacklog(): Promise<boolean> {
    // Two passes of margin for marks of writes still in flight, which may take turns first.
    return this.repository.backlogAtLeast(this.database, MARKS_PER_PASS * (MAX_DRAIN_PASSES - 2));
  }

  private scheduleBackground(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.backgroundPass(), delayMs);
    this.timer.unref();
  }

  private async backgroundPass(): Promise<void> {
    const pace =
      (await this.trackingRate()) > BUSY_EVENTS_PER_SECOND
        ? BACKGROUND_PACE.busy
        : BACKGROUND_PACE.quiet;
    const limit = this.backgroundMarks;
    const started = performance.now();
    let outcome = { taken: 0, computeMs: 0 };
    try {
      const pass = this.queue.catch(() => undefined).then(() => this.passes.run(limit));
      this.queue = pass;
      outcome = await pass;
    } catch (error) {
      // A thread that is down has said so once; its refusals would repeat every interval.
      if (isSettingsMismatch(error)) this.warnOfOtherSettingsOnce();
      else if (!(error instanceof PassThreadDownError))
        this.logger.warn(`Attribution refresh failed, retrying later: ${tail(error)}`);
    }
    const busyMs = performance.now() - started;
    if (outcome.taken < limit) return this.scheduleBackground(this.config.reportRefreshIntervalMs);
    const scale = Math.min(2, pace.computeTargetMs / Math.max(outcome.computeMs, 0.1));
    this.backgroundMarks = Math.round(
      Math.min(BACKGROUND_MARKS_RANGE.max, Math.max(BACKGROUND_MARKS_RANGE.min, limit * scale)),
    );
    this.scheduleBackground(Math.ceil((busyMs * (1 - pace.dutyCycle)) / pace.dutyCycle));
  }

  private warnOfOtherSettingsOnce(): void {
    if (this.warnedOfOtherSettings) return;
    this.warnedOfOtherSettings = true;
    this.logger.warn(
      'Another replica restarted the attribution rollup with other settings (CONVERSION_EVENT_TYPES or REPORT_TIMEZONE): ' +
        'this one leaves the rollup to it and answers reports from raw events; restart it with the same settings',
    );
  }

  /** Events accepted per second since the last look: the traffic the refresher must not slow. */
  private async trackingRate(): Promise<number> {
    const { values } = await this.metrics.trackedEvents.get();
    const seen = values.reduce((sum, value) => sum + value.value, 0);
    const now = performance.now();
    const rate = ((seen - this.eventsSeen) * 1000) / Math.max(now - this.lastPassAt, 1);
    this.eventsSeen = seen;
    this.lastPassAt = now;
    return rate;
  }

  /**
   * Oldest marks first, so once the marks that waited at the call are folded it stops,
   * however fast new ones arrive: a report is never held up by traffic after it.
   */
  private async drain(): Promise<void> {
    for (let pass = 0; pass < MAX_DRAIN_PASSES; pass++) {
      const { taken } = await this.passes.run(MARKS_PER_PASS);
      if (taken < MARKS_PER_PASS) return;
    }
  }

  private fingerprint(): string {
    return settingsFingerprint({
      timeZone: this.config.reportTimeZone,
      conversionTypes: this.config.conversionEventTypes,
    });
  }
}

/**
 * A failed statement's message is its whole SQL (client text included) then the reason:
 * logged every interval while it fails, only the end, where the reason is, is kept.
 */
function tail(error: unknown, max = 300): string {
  const text = String(error);
  return text.length > max ? `…${text.slice(-max)}` : text;
}

/**
 * REPORT_TIMEZONE was checked against Node's zone names at boot, but PostgreSQL buckets
 * the days, and it may not know the name (US/Pacific-New: every report a 500) or read
 * it otherwise: it takes an abbreviation before a zone, so IST is +02:00 (Israel) there
 * and India here, CET a fixed +01:00 there and Brussels' summer time here. Either way
 * the days of reports and of their default ranges would disagree: refuse to start. A
 * region both know but whose rules differ this year (one side's tzdata is older) is a
 * warning: an upgrade of either must not stop a service that ran.
 */
async function checkZoneAgainstDatabase(sql: Sql, zone: string): Promise<string | undefined> {
  const year = new Date().getUTCFullYear();
  // Winter and summer: an abbreviation's fixed offset differs from a zone's in one of them.
  const instants = [Date.UTC(year, 0, 15, 12), Date.UTC(year, 6, 15, 12)];
  const rows = await sql
    .query<{ local: string; abbreviation: boolean }>(
      `SELECT to_char(to_timestamp(t / 1000.0) AT TIME ZONE ?, 'YYYY-MM-DD HH24:MI') AS local,
              EXISTS (SELECT FROM pg_timezone_abbrevs WHERE abbrev = upper(?)) AS abbreviation
       FROM unnest(?::float8[]) WITH ORDINALITY AS i(t, n) ORDER BY n`,
      [zone, zone, `{${instants.join(',')}}`],
    )
    .catch((error: unknown) => {
      if (sqlState(error) !== SqlState.invalidParameterValue) throw error;
      throw new Error(
        `REPORT_TIMEZONE="${zone}" is not a time zone PostgreSQL knows (see pg_timezone_names): choose one it lists, such as Europe/Berlin`,
        { cause: error },
      );
    });
  const theirs = rows.map((row) => row.local).join(', ');
  const ours = instants.map((instant) => localMinute(new Date(instant), zone)).join(', ');
  if (theirs === ours) return undefined;
  if (rows[0]?.abbreviation) {
    throw new Error(
      `REPORT_TIMEZONE="${zone}" is an abbreviation to PostgreSQL, another time there (${theirs}) than here (${ours}): ` +
        `use a region name, such as ${regionOf(zone)}`,
    );
  }
  return (
    `REPORT_TIMEZONE="${zone}" gives another time in PostgreSQL (${theirs}) than here (${ours}, tz ${process.versions.tz}): ` +
    "their time-zone data differ; reports follow PostgreSQL's days: update the older one"
  );
}

function regionOf(zone: string): string {
  const resolved = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  return resolved === zone ? 'Europe/Berlin' : resolved;
}

/** `YYYY-MM-DD HH:MI` of an instant's wall-clock time in a zone. */
function localMinute(instant: Date, zone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(instant)
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}
