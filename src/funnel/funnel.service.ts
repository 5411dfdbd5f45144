import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ValidationFailedError } from '../common/http/domain-error';
import { Database, Sql } from '../persistence/database';
import { FunnelStageResponseDto } from './dto/funnel-stage-response.dto';
import { FunnelUpdateDto } from './dto/funnel-update.dto';
import { UpdateFunnelStageDto } from './dto/update-funnel-stage.dto';
import { FunnelCatalog, StageRef } from './funnel-catalog';
import { FunnelRepository } from './funnel.repository';
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

export const DEFAULT_FUNNEL = 'default';

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
    await this.funnels.lockSubject(sql, user);
    if (event.newLink && event.visitorId !== null) {
      await this.funnels.lockSubject(sql, { type: 'visitor', id: event.visitorId });
      await this.funnels.mergeVisitorIntoUser(sql, event.visitorId, event.userId);
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

  /** `POST /v1/events/funnel`: one explicit move, in its own transaction, idempotent by `event_id`. */
  async updateStage(dto: UpdateFunnelStageDto): Promise<FunnelStageResponseDto> {
    const target = this.catalog.resolve(dto.funnel ?? DEFAULT_FUNNEL, dto.stage);
    const eventId = dto.event_id ?? randomUUID();
    const update = await this.database.transaction(async (sql) => {
      await this.requests.lock(sql, eventId);
      const earlier = await this.requests.find(sql, eventId);
      if (earlier) return earlier;
      const subject = await this.resolveSubject(sql, dto.visitor_id ?? null, dto.user_id ?? null);
      await this.funnels.lockSubject(sql, subject);
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
    });
    return {
      success: true,
      funnel: update.funnel,
      stage: update.stage,
      previous_stage: update.previous_stage,
      advanced: update.advanced,
    };
  }

  /** The user when known (or when the visitor was linked to one), else the visitor. */
  private async resolveSubject(
    sql: Sql,
    visitorId: string | null,
    userId: string | null,
  ): Promise<Subject> {
    if (userId !== null) return { type: 'user', id: userId };
    if (visitorId === null) {
      throw new ValidationFailedError([
        { field: 'visitor_id', message: 'visitor_id or user_id is required' },
      ]);
    }
    const linkedUser = await this.funnels.linkedUser(sql, visitorId);
    return linkedUser === undefined
      ? { type: 'visitor', id: visitorId }
      : { type: 'user', id: linkedUser };
  }
}
