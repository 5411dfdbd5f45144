import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { classifyDatabaseError } from '../common/http/database-errors';
import { ValidationFailedError } from '../common/http/domain-error';
import { Database, Sql } from '../persistence/database';
import { retryOnConflict } from '../persistence/retry-on-conflict';
import { FunnelStageResponseDto } from './dto/funnel-stage-response.dto';
import { FunnelUpdateDto } from './dto/funnel-update.dto';
import { UpdateFunnelStageDto } from './dto/update-funnel-stage.dto';
import { DEFAULT_FUNNEL, FunnelCatalog, StageRef } from './funnel-catalog';
import { FunnelRepository, RecordedLinkMerge } from './funnel.repository';
import { FunnelUpdateRequestRepository } from './funnel-update-request.repository';
import { Subject } from './subject';

export interface TrackedEventForFunnels {
  eventId: string;
  eventType: string;
  visitorId: string | null;
  userId: string | null;
  occurredAt: Date;
  /** True when this event created the visitor→user link. */
  newLink: boolean;
}

@Injectable()
export class FunnelService {
  constructor(
    private readonly catalog: FunnelCatalog,
    private readonly funnels: FunnelRepository,
    private readonly requests: FunnelUpdateRequestRepository,
    private readonly database: Database,
  ) {}

  /** The stages an event type reaches, one per funnel at most. */
  stagesFor(eventType: string): readonly StageRef[] {
    return this.catalog.stagesFor(eventType);
  }

  /**
   * Within the transaction of an event that linked a visitor to a user for the first
   * time: carries the visitor's progress over to the user, then advances the user.
   */
  async applyLinkingEvent(sql: Sql, event: TrackedEventForFunnels): Promise<FunnelUpdateDto[]> {
    if (event.userId === null) return [];
    const user: Subject = { type: 'user', id: event.userId };
    // Visitor before user, everywhere: two paths never wait on each other's second lock.
    if (event.newLink && event.visitorId !== null) {
      await this.funnels.lockSubject(sql, { type: 'visitor', id: event.visitorId });
      await this.funnels.lockSubject(sql, user);
      await this.mergeNewLink(sql, event.visitorId, event.userId);
    } else {
      await this.funnels.lockSubject(sql, user);
    }
    const targets = this.catalog.stagesFor(event.eventType);
    if (targets.length === 0) return [];
    return this.funnels.advance(sql, {
      subject: user,
      targets,
      cause: {
        eventId: event.eventId,
        eventType: event.eventType,
        occurredAt: event.occurredAt,
      },
    });
  }

  /** A new link's visitor progress carried over to the user, and recorded to be merged again. */
  private async mergeNewLink(sql: Sql, visitorId: string, userId: string): Promise<void> {
    await this.funnels.mergeVisitorIntoUser(sql, visitorId, userId);
    await this.funnels.recordLinkMerge(sql, visitorId, userId);
  }

  /**
   * Merges again each linked visitor whose racing statements have all ended: a grouped
   * track statement for the visitor alone whose snapshot predates the link's commit took
   * the visitor for its own subject and may have moved it after the first merge. Merging
   * is idempotent, so a replica that does it twice changes nothing. Returns how many merged.
   */
  async mergeLinkedVisitorsAgain(limit: number): Promise<number> {
    const due = await this.funnels.dueLinkMerges(this.database, limit);
    let merged = 0;
    const failures: unknown[] = [];
    for (const merge of due) {
      try {
        if (await this.mergeAgain(merge)) merged++;
      } catch (error) {
        // One bad record (kept for the next run) must not hold up the others.
        if (classifyDatabaseError(error) === 'unavailable') throw error;
        failures.push(error);
      }
    }
    if (failures.length > 0) {
      throw new AggregateError(failures, `${failures.length} of ${due.length} link merges failed`);
    }
    return merged;
  }

  private mergeAgain(merge: RecordedLinkMerge): Promise<boolean> {
    return this.database.transaction(async (sql) => {
      if (!(await this.funnels.claimLinkMerge(sql, merge))) return false;
      await this.funnels.lockSubject(sql, { type: 'visitor', id: merge.visitor_id });
      // The visitor's subject now: the user of its latest link.
      const userId = (await this.funnels.linkedUser(sql, merge.visitor_id)) ?? merge.user_id;
      await this.funnels.lockSubject(sql, { type: 'user', id: userId });
      await this.funnels.mergeVisitorIntoUser(sql, merge.visitor_id, userId);
      return true;
    });
  }

  /** `POST /v1/events/funnel`: one explicit move, in its own transaction, idempotent by `event_id`. */
  async updateStage(dto: UpdateFunnelStageDto): Promise<FunnelStageResponseDto> {
    const target = this.catalog.resolve(dto.funnel ?? DEFAULT_FUNNEL, dto.stage);
    const eventId = dto.event_id ?? randomUUID();
    const update = await retryOnConflict(() =>
      this.database.transaction(async (sql) => {
        await this.requests.lock(sql, eventId);
        const earlier = await this.requests.find(sql, eventId);
        if (earlier) return earlier;
        const subject = await this.lockSubject(sql, dto.visitor_id ?? null, dto.user_id ?? null);
        const [moved] = await this.funnels.advance(sql, {
          subject,
          targets: [target],
          cause: {
            eventId,
            eventType: null,
            occurredAt: dto.occurred_at == null ? new Date() : new Date(dto.occurred_at),
          },
        });
        await this.requests.save(sql, eventId, moved, dto.properties ?? null);
        return moved;
      }),
    );
    return {
      success: true,
      funnel: update.funnel,
      stage: update.stage,
      previous_stage: update.previous_stage,
      advanced: update.advanced,
    };
  }

  /**
   * Locks and returns the subject: the user when known, else the user the visitor was
   * linked to, else the visitor. The visitor is locked before its link is read, so a
   * link being made (under the same lock) is seen once it commits and the visitor is
   * never moved on its own after its progress was merged. Both ids link the two, as an
   * event carrying both does: the visitor's progress counts for the user.
   */
  private async lockSubject(
    sql: Sql,
    visitorId: string | null,
    userId: string | null,
  ): Promise<Subject> {
    if (userId !== null) {
      const user: Subject = { type: 'user', id: userId };
      if (visitorId === null) {
        await this.funnels.lockSubject(sql, user);
        return user;
      }
      // The order of a first-link tracked event: the link row, then the visitor's lock,
      // then the user's. Taken in another order, the two paths could deadlock.
      const newLink = await this.funnels.link(sql, visitorId, userId);
      await this.funnels.lockSubject(sql, { type: 'visitor', id: visitorId });
      await this.funnels.lockSubject(sql, user);
      if (newLink) await this.mergeNewLink(sql, visitorId, userId);
      return user;
    }
    if (visitorId === null) {
      throw new ValidationFailedError([
        { field: 'visitor_id', message: 'visitor_id or user_id is required' },
      ]);
    }
    const visitor: Subject = { type: 'visitor', id: visitorId };
    await this.funnels.lockSubject(sql, visitor);
    const linkedUser = await this.funnels.linkedUser(sql, visitorId);
    if (linkedUser === undefined) return visitor;
    const user: Subject = { type: 'user', id: linkedUser };
    await this.funnels.lockSubject(sql, user);
    return user;
  }
}
