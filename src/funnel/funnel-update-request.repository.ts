import { Injectable } from '@nestjs/common';
import { Sql } from '../persistence/database';
import { FunnelUpdateDto } from './dto/funnel-update.dto';

/** Outcomes of explicit funnel updates by `event_id`, so a retried request gets the same answer. */
@Injectable()
export class FunnelUpdateRequestRepository {
  /** Concurrent requests with one `event_id` apply one at a time. */
  async lock(sql: Sql, eventId: string): Promise<void> {
    await sql.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [
      `funnel-request:${eventId}`,
    ]);
  }

  async find(sql: Sql, eventId: string): Promise<FunnelUpdateDto | undefined> {
    const rows = await sql.query<FunnelUpdateDto>(
      'SELECT funnel, stage, previous_stage, advanced FROM funnel_update_requests WHERE event_id = ?',
      [eventId],
    );
    return rows[0];
  }

  async save(
    sql: Sql,
    eventId: string,
    outcome: FunnelUpdateDto,
    properties: Record<string, unknown> | null,
  ): Promise<void> {
    await sql.query(
      'INSERT INTO funnel_update_requests (event_id, funnel, stage, previous_stage, advanced, properties) VALUES (?, ?, ?, ?, ?, ?::jsonb)',
      [
        eventId,
        outcome.funnel,
        outcome.stage,
        outcome.previous_stage,
        outcome.advanced,
        properties === null ? null : JSON.stringify(properties),
      ],
    );
  }
}
