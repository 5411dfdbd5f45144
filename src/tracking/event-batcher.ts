import { Injectable } from '@nestjs/common';
import { classifyDatabaseError } from '../common/http/database-errors';
import { OverloadedError } from '../common/http/domain-error';
import { sqlState } from '../common/sql-state';
import { isRoutedBeforeAttach } from '../persistence/retry-on-conflict';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { EventRepository, EventToTrack, TrackOutcome } from './event.repository';
import { MetricsService } from '../metrics/metrics.service';

interface Pending extends EventToTrack {
  resolve(outcome: TrackOutcome): void;
  reject(error: unknown): void;
}

// Two groups in flight keep PostgreSQL busy while the next group fills; more only
// spreads the same work over more connections.
const MAX_IN_FLIGHT = 2;

/** What two events in flight at once must not share: the event_id, and (with funnel targets) the subjects the statement may resolve it to. */
function keysOf(item: EventToTrack): string[] {
  const keys = [`e:${item.event.eventId}`];
  if (item.targets.length === 0) return keys;
  const userId = item.event.userId ?? item.linkedUserId ?? null;
  if (userId !== null) keys.push(`u:${userId}`);
  if (item.event.visitorId !== null) keys.push(`v:${item.event.visitorId}`);
  return keys;
}

/**
 * Group commit: events arriving together are stored by one statement and one commit,
 * and each request is answered only after the commit of its group. A group never holds
 * two events with one event_id or, among those with funnel targets, one visitor or one
 * user, nor one that a group still in flight holds (the later one waits for a later
 * group), so a visitor's or a user's funnel moves commit in the order they arrived. A
 * visitor-only event counts for the user this process knows the visitor linked to too;
 * a link it does not know of (another replica made it) can still bring a linked
 * visitor's event and its user's into one statement, which copes with their order (see
 * funnel-advance.sql.ts) but fails when both move the user.
 * When a group fails for a reason other than the database being away (such a meeting, a
 * deadlock with another group, one bad row), its events are retried one by one, so one
 * event fails only its own request.
 */
@Injectable()
export class EventBatcher {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  /** event_ids and subjects of the groups in flight, with how many of them hold each. */
  private readonly held = new Map<string, number>();
  private scheduled = false;
  private readonly maxRows: number;
  private readonly maxWaitMs: number;
  /** Events queued or in flight, and how many may be: beyond it an event is refused at once. */
  private pending = 0;
  private readonly maxPending: number;

  constructor(
    private readonly events: EventRepository,
    private readonly metrics: MetricsService,
    @InjectConfig() config: AppConfig,
  ) {
    this.maxRows = config.tracking.batchMaxRows;
    this.maxWaitMs = config.tracking.batchMaxWaitMs;
    this.maxPending = config.tracking.maxPendingEvents;
  }

  /** Events queued or in flight. */
  get pendingEvents(): number {
    return this.pending;
  }

  track(item: EventToTrack): Promise<TrackOutcome> {
    if (this.pending >= this.maxPending) return Promise.reject(new OverloadedError());
    this.pending++;
    const outcome = new Promise<TrackOutcome>((resolve, reject) => {
      this.queue.push({ ...item, resolve, reject });
      this.schedule();
    });
    return outcome.finally(() => this.pending--);
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= MAX_IN_FLIGHT || this.queue.length === 0) return;
    this.scheduled = true;
    const flush = () => {
      this.scheduled = false;
      this.flush();
    };
    if (this.maxWaitMs > 0 && this.queue.length < this.maxRows) setTimeout(flush, this.maxWaitMs);
    else setImmediate(flush);
  }

  private flush(): void {
    if (this.inFlight >= MAX_IN_FLIGHT || this.queue.length === 0) return;
    const group = this.takeGroup();
    if (group.length === 0) return; // all waiting on groups in flight: their end reschedules
    const keys = group.flatMap(keysOf);
    for (const key of keys) this.held.set(key, (this.held.get(key) ?? 0) + 1);
    this.inFlight++;
    void this.store(group).finally(() => {
      for (const key of keys) {
        const count = this.held.get(key)! - 1;
        if (count === 0) this.held.delete(key);
        else this.held.set(key, count);
      }
      this.inFlight--;
      this.schedule();
    });
    this.schedule();
  }

  /**
   * Up to maxRows events in arrival order, leaving repeats of an event_id or a subject,
   * here or in flight, for later. An event left for later holds back all its keys, not
   * only the one that stopped it: a later event sharing its other subject must not
   * overtake it.
   */
  private takeGroup(): Pending[] {
    const group: Pending[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < this.queue.length && group.length < this.maxRows;) {
      const item = this.queue[i];
      const keys = keysOf(item);
      const free = keys.every((key) => !seen.has(key) && !this.held.has(key));
      for (const key of keys) seen.add(key);
      if (!free) {
        i++;
        continue;
      }
      group.push(item);
      this.queue.splice(i, 1);
    }
    return group;
  }

  private async store(group: Pending[], routedAgain = false): Promise<void> {
    try {
      const outcomes = await this.events.trackMany(group);
      for (const item of group) {
        const outcome = outcomes.get(item.event.eventId);
        if (outcome) item.resolve(outcome);
        else item.reject(new Error(`No outcome for event ${item.event.eventId}`));
      }
    } catch (error) {
      if (group.length === 1 && !routedAgain && isRoutedBeforeAttach(error))
        return this.store(group, true);
      if (group.length === 1 || classifyDatabaseError(error) === 'unavailable') {
        for (const item of group) item.reject(error);
        return;
      }
      this.metrics.trackGroupRetries.inc({ sqlstate: sqlState(error) ?? 'none' });
      // One at a time: a failed group must not fan out into more connections than it had.
      for (const item of group) await this.store([item]);
    }
  }
}
