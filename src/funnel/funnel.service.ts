import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ValidationFailedError } from '../common/http/domain-error';
import { Database, Sql } from '../persistence/database';
import { FunnelStageResponseDto } from './dto/funnel-stage-response.dto';
import { FunnelUpdateDto } from './dto/funnel-update.dto';
import { UpdateFunnelStageDto } from './dto/update-funnel-stage.dto';
import { FunnelCatalog, StageRef } from './funnel-catalog';
import { decideProgress } from './funnel-progression';
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

  /**
   * Whether a tracked event may touch funnel state, so it needs a transaction around it:
   * its type reaches a stage, or it links a visitor to a user (whose progress then moves).
   */
  mayAffect(eventType: string, linksIdentities: boolean): boolean {
    return linksIdentities || this.catalog.stagesFor(eventType).length > 0;
  }

  /**
   * Within the tracked event's transaction: carries a newly linked visitor's progress
   * over to the user, then advances every funnel whose stages list the event type.
   */
  async applyTrackedEvent(sql: Sql, event: TrackedEventForFunnels): Promise<FunnelUpdateDto[]> {
    const targets = this.catalog.stagesFor(event.eventType);
    if (!event.newLink && targets.length === 0) return [];
    const subject = await this.resolveSubject(sql, event.visitorId, event.userId);
    await this.funnels.lockSubject(sql, subject);
    if (event.newLink && event.visitorId !== null && event.userId !== null) {
      await this.funnels.lockSubject(sql, { type: 'visitor', id: event.visitorId });
      await this.funnels.mergeVisitorIntoUser(sql, event.visitorId, event.userId);
    }
    const current = await this.funnels.progress(sql, subject);
    const updates: FunnelUpdateDto[] = [];
    for (const target of targets) {
      updates.push(
        await this.moveTo(sql, subject, target, current.get(target.funnel)?.stageIndex ?? null, {
          occurredAt: event.occurredAt,
          causeEventId: event.eventId,
          causeEventType: event.eventType,
        }),
      );
    }
    return updates;
  }

  /** `POST /v1/events/funnel`: one explicit move, in its own transaction, idempotent by `event_id`. */
  async updateStage(dto: UpdateFunnelStageDto): Promise<FunnelStageResponseDto> {
    const target = this.resolveStage(dto.funnel ?? DEFAULT_FUNNEL, dto.stage);
    const eventId = dto.event_id ?? randomUUID();
    const update = await this.database.transaction(async (sql) => {
      await this.requests.lock(sql, eventId);
      const earlier = await this.requests.find(sql, eventId);
      if (earlier) return earlier;
      const subject = await this.resolveSubject(sql, dto.visitor_id ?? null, dto.user_id ?? null);
      await this.funnels.lockSubject(sql, subject);
      const current =
        (await this.funnels.progress(sql, subject)).get(target.funnel)?.stageIndex ?? null;
      const moved = await this.moveTo(sql, subject, target, current, {
        occurredAt: dto.occurred_at == null ? new Date() : new Date(dto.occurred_at),
        causeEventId: eventId,
        causeEventType: null,
      });
      await this.requests.save(sql, eventId, moved, dto.properties ?? null);
      return moved;
    });
    return { success: true, ...update };
  }

  private async moveTo(
    sql: Sql,
    subject: Subject,
    target: StageRef,
    currentIndex: number | null,
    cause: { occurredAt: Date; causeEventId: string; causeEventType: string | null },
  ): Promise<FunnelUpdateDto> {
    const decision = decideProgress(currentIndex, target.stageIndex);
    const previousStage =
      decision.previousIndex === null
        ? null
        : (this.catalog.stageName(target.funnel, decision.previousIndex) ?? null);
    if (decision.advanced) {
      await this.funnels.advance(sql, {
        funnel: target.funnel,
        subject,
        stage: target.stage,
        stageIndex: target.stageIndex,
        fromStage: previousStage,
        ...cause,
      });
    }
    return {
      funnel: target.funnel,
      stage: target.stage,
      previous_stage: previousStage,
      advanced: decision.advanced,
    };
  }

  /** The user when known (or when the visitor was linked to one), else the visitor. */
  private async resolveSubject(
    sql: Sql,
    visitorId: string | null,
    userId: string | null,
  ): Promise<Subject> {
    if (userId !== null) return { type: 'user', id: userId };
    if (visitorId === null)
      throw new ValidationFailedError([
        { field: 'visitor_id', message: 'visitor_id or user_id is required' },
      ]);
    const linkedUser = await this.funnels.linkedUser(sql, visitorId);
    return linkedUser === undefined
      ? { type: 'visitor', id: visitorId }
      : { type: 'user', id: linkedUser };
  }

  private resolveStage(funnelName: string, stageName: string): StageRef {
    const funnel = this.catalog.funnel(funnelName);
    if (!funnel) {
      const valid = this.catalog.funnels.map((f) => f.name).join(', ');
      throw new ValidationFailedError([
        { field: 'funnel', message: `unknown funnel "${funnelName}"; valid funnels: ${valid}` },
      ]);
    }
    const stageIndex = funnel.stages.findIndex((stage) => stage.name === stageName);
    if (stageIndex < 0) {
      const valid = funnel.stages.map((s) => s.name).join(', ');
      throw new ValidationFailedError([
        {
          field: 'stage',
          message: `unknown stage "${stageName}" in funnel "${funnelName}"; valid stages: ${valid}`,
        },
      ]);
    }
    return { funnel: funnel.name, stage: stageName, stageIndex };
  }
}
