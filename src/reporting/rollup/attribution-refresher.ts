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
import { Conversion, Touchpoint } from '../attribute-conversions';
import {
  AttributionRefreshRepository,
  CreditTuple,
  SubjectEvent,
} from './attribution-refresh.repository';
import { ROLLUP_LOOKBACK_DAYS, creditTuples, rollupDeltas } from './conversion-credits';

/** Marks folded per transaction when a report waits: large enough to amortise round trips. */
const MARKS_PER_PASS = 2_000;
/** A report drains at most this many passes; a larger backlog sends it to raw events. */
const MAX_DRAIN_PASSES = 10;
/**
 * In the background, while the process takes tracking traffic (more than
 * BUSY_EVENTS_PER_SECOND events accepted since the last pass), each pass is followed by a
 * pause twice as long, so the refresher takes at most a third of the time, and passes are
 * sized so that their work in this process (credit computation, which blocks the event
 * loop) stays near 4 ms:
 * large when marks are cheap, small when many conversions are recomputed. When the
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
/** Bump when the way credit is computed changes: stored credit is then rebuilt. */
const CREDIT_VERSION = 1;

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
  private stopped = false;
  private backgroundMarks = BACKGROUND_MARKS_RANGE.min;
  private eventsSeen = 0;
  private lastPassAt = performance.now();

  constructor(
    private readonly database: Database,
    private readonly repository: AttributionRefreshRepository,
    private readonly metrics: MetricsService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.database.transaction(async (sql) => {
      await this.repository.lock(sql);
      const fingerprint = this.fingerprint();
      if ((await this.repository.fingerprint(sql)) === fingerprint) return;
      this.logger.log('Attribution settings changed (or first start): recomputing all credit');
      await this.repository.restart(sql, fingerprint);
    });
    if (this.config.reportRefreshIntervalMs > 0)
      this.scheduleBackground(this.config.reportRefreshIntervalMs);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
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
      const pass = this.queue
        .catch(() => undefined)
        .then(() => this.database.transaction((sql) => this.pass(sql, limit)));
      this.queue = pass;
      outcome = await pass;
    } catch (error) {
      this.logger.warn(`Attribution refresh failed, retrying later: ${String(error)}`);
    }
    const busyMs = performance.now() - started;
    if (outcome.taken < limit) return this.scheduleBackground(this.config.reportRefreshIntervalMs);
    const scale = Math.min(2, pace.computeTargetMs / Math.max(outcome.computeMs, 0.1));
    this.backgroundMarks = Math.round(
      Math.min(BACKGROUND_MARKS_RANGE.max, Math.max(BACKGROUND_MARKS_RANGE.min, limit * scale)),
    );
    this.scheduleBackground(Math.ceil((busyMs * (1 - pace.dutyCycle)) / pace.dutyCycle));
  }

  /**
   * Oldest marks first, so once the marks that waited at the call are folded it stops,
   * however fast new ones arrive: a report is never held up by traffic after it.
   */
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

  private async drain(): Promise<void> {
    for (let pass = 0; pass < MAX_DRAIN_PASSES; pass++) {
      const { taken } = await this.database.transaction((sql) => this.pass(sql, MARKS_PER_PASS));
      if (taken < MARKS_PER_PASS) return;
    }
  }

  /** One batch of at most `limit` marks: how many it took and the milliseconds of computation here. */
  private async pass(sql: Sql, limit: number): Promise<{ taken: number; computeMs: number }> {
    await this.repository.lock(sql);
    const marks = await this.repository.takeMarks(sql, limit);
    if (marks.length === 0) return { taken: 0, computeMs: 0 };
    const events = await this.repository.subjectEvents(sql, marks, {
      lookbackHours: ROLLUP_LOOKBACK_DAYS * 24,
      timeZone: this.config.reportTimeZone,
      conversionTypes: this.config.conversionEventTypes,
    });
    const computeStarted = performance.now();
    const after = new Map<string, CreditTuple[]>();
    for (const subjectEvents of groupBySubject(events)) {
      const touchpoints: Touchpoint[] = subjectEvents
        .filter((event) => event.source !== '(direct)')
        .map((event) => ({
          source: event.source,
          medium: event.medium,
          campaign: event.campaign,
          occurredAt: event.occurred_ms,
        }));
      for (const event of subjectEvents) {
        if (!event.recompute || !this.isConversion(event.event_type)) continue;
        after.set(event.id, creditTuples(toConversion(event, touchpoints)));
      }
    }
    let computeMs = performance.now() - computeStarted;
    const before = await this.repository.previousCredits(sql, [...after.keys()]);
    const deltasStarted = performance.now();
    const deltas = rollupDeltas(before, after);
    computeMs += performance.now() - deltasStarted;
    await this.repository.applyDeltas(sql, deltas);
    await this.repository.saveCredits(sql, after);
    return { taken: marks.length, computeMs };
  }

  private isConversion(eventType: string): boolean {
    const types = this.config.conversionEventTypes;
    return types === undefined ? eventType !== 'page_view' : types.includes(eventType);
  }

  private fingerprint(): string {
    return JSON.stringify({
      version: CREDIT_VERSION,
      lookbackDays: ROLLUP_LOOKBACK_DAYS,
      timeZone: this.config.reportTimeZone,
      conversionTypes: this.config.conversionEventTypes ?? null,
    });
  }
}

function* groupBySubject(events: readonly SubjectEvent[]): Generator<SubjectEvent[]> {
  let start = 0;
  for (let i = 1; i <= events.length; i++) {
    if (i === events.length || events[i].subject !== events[start].subject) {
      yield events.slice(start, i);
      start = i;
    }
  }
}

function toConversion(event: SubjectEvent, touchpoints: readonly Touchpoint[]): Conversion {
  return {
    eventType: event.event_type,
    occurredAt: event.occurred_ms,
    date: event.day,
    value: event.value,
    currency: event.currency,
    touchpoints,
  };
}
