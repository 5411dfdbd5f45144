import { Injectable, Logger } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import {
  DatabaseUnavailableError,
  DomainError,
  OverloadedError,
  ValidationFailedError,
} from '../common/http/domain-error';
import { toDomainError } from '../common/http/error-mapping';
import { fastTransform } from '../common/validation/fast-check';
import { withoutRefusedKeys } from '../common/validation/refused-keys';
import { tooManyFieldsError } from '../common/validation/unknown-fields';
import { VALIDATOR_OPTIONS, validationFailed } from '../common/validation/validation-errors';
import { TrackBatchDto } from './dto/track-batch.dto';
import { TrackBatchResponseDto, TrackBatchResultDto } from './dto/track-batch-response.dto';
import { TrackEventDto } from './dto/track-event.dto';
import { TrackEventResponseDto } from './dto/track-event-response.dto';
import { EventBatcher } from './event-batcher';
import { EventRepository } from './event.repository';
import { FunnelUpdateDto } from '../funnel/dto/funnel-update.dto';
import { FunnelService } from '../funnel/funnel.service';
import { MetricsService } from '../metrics/metrics.service';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { Database } from '../persistence/database';
import { retryOnConflict } from '../persistence/retry-on-conflict';
import { KnownLinks } from './known-links';
import { NewEvent, buildNewEvent } from './new-event';
import { RequestContext } from './request-context';
import { errorText } from '../common/error-text';

@Injectable()
export class TrackingService {
  constructor(
    private readonly events: EventRepository,
    private readonly batcher: EventBatcher,
    private readonly funnels: FunnelService,
    private readonly database: Database,
    private readonly metrics: MetricsService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  private readonly knownLinks = new KnownLinks();
  private readonly logger = new Logger(TrackingService.name);

  /** Stores one validated event and advances the funnels it reaches; answers only after the commit. */
  async track(dto: TrackEventDto, request: RequestContext): Promise<TrackEventResponseDto> {
    const event = buildNewEvent(dto, request);
    const { stored, funnelUpdates } = await this.store(event);
    this.metrics.trackedEvents.inc({ outcome: stored ? 'stored' : 'duplicate' });
    return {
      success: true,
      event_id: event.eventId,
      duplicate: !stored,
      funnel_updates: funnelUpdates,
    };
  }

  /**
   * One statement stores the event and moves its funnels. The first event linking a
   * visitor to a user takes a transaction instead, so that the visitor's progress is
   * carried over to the user before the user moves.
   */
  private async store(
    event: NewEvent,
  ): Promise<{ stored: boolean; funnelUpdates: FunnelUpdateDto[] }> {
    const { visitorId, userId } = event;
    const targets = this.funnels.stagesFor(event.eventType);
    if (visitorId === null) return this.batcher.track({ event, targets });
    if (userId === null) {
      const linkedUserId = this.knownLinks.newestUserOf(visitorId);
      return this.batcher.track({ event, targets, linkedUserId });
    }
    if (this.knownLinks.has(visitorId, userId)) return this.batcher.track({ event, targets });
    const result = await retryOnConflict(() =>
      this.database.transaction(async (sql) => {
        const { stored, linked, newestUserId } = await this.events.insert(event, sql);
        const funnelUpdates = stored
          ? await this.funnels.applyLinkingEvent(sql, { ...event, newLink: linked })
          : [];
        return { stored, newestUserId, funnelUpdates };
      }),
    );
    // A duplicate stored no link and merged nothing: the next event must take this path again.
    if (result.stored) this.knownLinks.add(visitorId, userId, result.newestUserId);
    return result;
  }

  /**
   * Validates each event on its own, so a bad event costs only itself, then hands the
   * valid ones to the group commit together. Two orders are kept: a repeated event_id
   * waits for its first occurrence (the first is stored, the later ones are duplicates,
   * whatever the commit order), and an event that moves a funnel or links a visitor to a
   * user waits for the earlier such events of the same visitor or user, so that a
   * person's funnel moves in the order the batch gives. The answer waits for every event
   * to be stored or refused. A database outage that left nothing stored fails the whole
   * request (503: nothing half-written, safe to send again); once some events are stored,
   * each event the outage refused says so in its result, so that only those are sent
   * again (a resent event without an event_id would be stored twice). An unexpected
   * failure of one event is likewise its result (internal_error) once others are stored.
   */
  async trackBatch(dto: TrackBatchDto, request: RequestContext): Promise<TrackBatchResponseDto> {
    const checked = await Promise.all(dto.events.map((raw) => validateEvent(raw, this.config)));
    const outcomes = await Promise.allSettled(this.storeInOrder(checked, request));
    const accepted = outcomes.some((o) => o.status === 'fulfilled' && o.value.success);
    const results = outcomes.map((outcome, index) => {
      if (outcome.status === 'fulfilled') return outcome.value;
      if (!accepted) throw outcome.reason;
      // Some events are stored: failing the whole request would have them all sent again.
      const refusal = toDomainError(outcome.reason);
      if (refusal !== undefined) return rejected(index, refusal);
      this.logger.error(`Event ${index} of a batch failed`, errorText(outcome.reason));
      return failedUnexpectedly(index);
    });
    return { success: true, results };
  }

  /** Each event's result, each stored only after the earlier events it must follow. */
  private storeInOrder(
    checked: (TrackEventDto | ValidationFailedError)[],
    request: RequestContext,
  ): Promise<TrackBatchResultDto>[] {
    const previous = new Map<string, Promise<unknown>>();
    // Once the database has failed one event, those still waiting for their turn fail at
    // once (nothing of them is stored): each waiting out its own timeout would hold the
    // answer for as many timeouts as the batch has events in a row for one person.
    let outage: Error | undefined;
    return checked.map((event, index) => {
      if (event instanceof ValidationFailedError) return Promise.resolve(rejected(index, event));
      const keys = this.orderKeys(event);
      const before = keys.flatMap((key) => previous.get(key) ?? []);
      const outcome = Promise.all(before.map((p) => p.catch(() => undefined))).then(() => {
        if (outage !== undefined) throw outage;
        return this.trackOneOfBatch(index, event, request).catch((error: unknown) => {
          const domain = toDomainError(error);
          if (domain instanceof DatabaseUnavailableError) outage ??= domain;
          throw error;
        });
      });
      for (const key of keys) previous.set(key, outcome);
      return outcome;
    });
  }

  /**
   * What an event of a batch must wait for: its event_id's first occurrence, its person's
   * earlier moves (by either id, and by the user this process knows a visitor linked to).
   */
  private orderKeys(event: TrackEventDto): string[] {
    const keys = event.event_id == null ? [] : [`e:${event.event_id}`];
    const linking = event.visitor_id != null && event.user_id != null;
    if (linking || this.funnels.stagesFor(event.event_type).length > 0) {
      const visitorId = event.visitor_id ?? null;
      const userId =
        event.user_id ?? (visitorId === null ? null : this.knownLinks.newestUserOf(visitorId));
      if (visitorId !== null) keys.push(`v:${visitorId}`);
      if (userId != null) keys.push(`u:${userId}`);
    }
    return keys;
  }

  /**
   * A client's mistake in one event becomes that event's error; an outage or an overload
   * (which may pass for the next events) fails the request.
   */
  private async trackOneOfBatch(
    index: number,
    event: TrackEventDto,
    request: RequestContext,
  ): Promise<TrackBatchResultDto> {
    let response: TrackEventResponseDto;
    try {
      response = await this.track(event, request);
    } catch (error) {
      const domain = toDomainError(error);
      if (
        domain === undefined ||
        domain instanceof DatabaseUnavailableError ||
        domain instanceof OverloadedError
      )
        throw error;
      return rejected(index, domain);
    }
    return {
      index,
      success: true,
      event_id: response.event_id,
      duplicate: response.duplicate,
      funnel_updates: response.funnel_updates,
      error: null,
    };
  }
}

/** The envelope guarantees a JSON object; the fast check vouches for most events. */
async function validateEvent(
  raw: object,
  config: AppConfig,
): Promise<TrackEventDto | ValidationFailedError> {
  const fast = fastTransform(TrackEventDto, raw as Record<string, unknown>, config);
  if (fast !== undefined) return fast;
  const tooMany = tooManyFieldsError(TrackEventDto, raw);
  if (tooMany !== undefined) return tooMany;
  const refused = withoutRefusedKeys(raw, true);
  const event = plainToInstance(TrackEventDto, refused?.rest ?? raw);
  const errors = await validate(event, VALIDATOR_OPTIONS);
  if (refused === undefined) return errors.length > 0 ? validationFailed(errors) : event;
  const others = errors.length > 0 ? validationFailed(errors).details : [];
  return new ValidationFailedError([...refused.errors, ...others]);
}

function rejected(index: number, error: DomainError): TrackBatchResultDto {
  return failed(index, { code: error.code, message: error.message, details: error.details });
}

/** As the error envelope answers an unexpected failure: nothing internal is shown. */
function failedUnexpectedly(index: number): TrackBatchResultDto {
  return failed(index, { code: 'internal_error', message: 'Internal server error', details: [] });
}

function failed(index: number, error: TrackBatchResultDto['error']): TrackBatchResultDto {
  return { index, success: false, event_id: null, duplicate: false, funnel_updates: [], error };
}
