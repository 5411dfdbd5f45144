import { Injectable } from '@nestjs/common';
import { FunnelUpdateDto } from '../funnel/dto/funnel-update.dto';
import { advanceFunnelsCtes, funnelUpdatesJson, targetsJson } from '../funnel/funnel-advance.sql';
import { StageRef } from '../funnel/funnel-catalog';
import { Database, PreparedStatement, Sql } from '../persistence/database';
import { NewEvent, StoreResult } from './new-event';

const COLUMNS = [
  'event_id',
  'event_type',
  'visitor_id',
  'user_id',
  'session_id',
  'occurred_at',
  'received_at',
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
  'gclid',
  'fbclid',
  'msclkid',
  'page_url',
  'referrer',
  'value',
  'currency',
  'properties',
  'source',
  'medium',
  'campaign',
  'channel',
  'user_agent',
  'is_bot',
  'origin',
  'ip_prefix',
] as const;

/**
 * The event, its visitor→user link and its funnel moves in one statement: atomic
 * without an explicit transaction, one round trip, prepared once per connection.
 * `ON CONFLICT (event_id) DO NOTHING` makes concurrent duplicates store exactly one row
 * (the loser waits for the winner's commit, then inserts nothing and moves no funnel).
 * The subject is the user, else the user the visitor was linked to, else the visitor.
 */
const TRACK_EVENT: PreparedStatement = {
  name: 'track_event_v1',
  text: `
WITH inserted AS (
  INSERT INTO events (${COLUMNS.join(', ')})
  VALUES (${COLUMNS.map((column, i) => `$${i + 1}${column === 'properties' ? '::jsonb' : ''}`).join(', ')})
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id, event_type, visitor_id, user_id, occurred_at
), linked AS (
  INSERT INTO identity_links (visitor_id, user_id)
  SELECT visitor_id, user_id FROM inserted WHERE visitor_id IS NOT NULL AND user_id IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
), subject AS (
  SELECT CASE WHEN coalesce(i.user_id, l.user_id) IS NULL THEN 'visitor' ELSE 'user' END AS subject_type,
         coalesce(i.user_id, l.user_id, i.visitor_id) AS subject_id,
         i.event_id, i.event_type, i.occurred_at
  FROM inserted i
  LEFT JOIN LATERAL (
    SELECT user_id FROM identity_links
    WHERE visitor_id = i.visitor_id AND i.user_id IS NULL
    ORDER BY linked_at DESC, user_id LIMIT 1
  ) l ON true
),${advanceFunnelsCtes(`$${COLUMNS.length + 1}`)}
SELECT (SELECT count(*) FROM inserted)::int AS stored,
       (SELECT count(*) FROM linked)::int AS linked,
       ${funnelUpdatesJson} AS funnel_updates`,
};

/**
 * The same without funnel work, for use inside a transaction that moves funnels itself
 * (the first event linking a visitor to a user: its progress must merge first).
 */
const INSERT_EVENT = `
WITH inserted AS (
  INSERT INTO events (${COLUMNS.join(', ')})
  VALUES (${COLUMNS.map((column) => (column === 'properties' ? '?::jsonb' : '?')).join(', ')})
  ON CONFLICT (event_id) DO NOTHING
  RETURNING visitor_id, user_id
), linked AS (
  INSERT INTO identity_links (visitor_id, user_id)
  SELECT visitor_id, user_id FROM inserted WHERE visitor_id IS NOT NULL AND user_id IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM inserted)::int AS stored, (SELECT count(*) FROM linked)::int AS linked`;

@Injectable()
export class EventRepository {
  constructor(private readonly database: Database) {}

  /** Stores the event and advances the given funnel stages; resolves once committed. */
  async track(
    event: NewEvent,
    targets: readonly StageRef[],
  ): Promise<StoreResult & { funnelUpdates: FunnelUpdateDto[] }> {
    const [row] = await this.database.prepared<{
      stored: number;
      linked: number;
      funnel_updates: FunnelUpdateDto[];
    }>(TRACK_EVENT, [...toParams(event), targetsJson(targets)]);
    const stored = row?.stored === 1;
    return { stored, linked: row?.linked === 1, funnelUpdates: stored ? row.funnel_updates : [] };
  }

  /** Inside the caller's transaction: the event and its link only. */
  async insert(event: NewEvent, sql: Sql = this.database): Promise<StoreResult> {
    const rows = await sql.query<{ stored: number; linked: number }>(INSERT_EVENT, toParams(event));
    return { stored: rows[0]?.stored === 1, linked: rows[0]?.linked === 1 };
  }
}

function toParams(event: NewEvent): unknown[] {
  return [
    event.eventId,
    event.eventType,
    event.visitorId,
    event.userId,
    event.sessionId,
    event.occurredAt.toISOString(),
    event.receivedAt.toISOString(),
    event.utmSource,
    event.utmMedium,
    event.utmCampaign,
    event.utmTerm,
    event.utmContent,
    event.gclid,
    event.fbclid,
    event.msclkid,
    event.pageUrl,
    event.referrer,
    event.value === null ? null : String(event.value),
    event.currency,
    event.properties === null ? null : JSON.stringify(event.properties),
    event.source,
    event.medium,
    event.campaign,
    event.channel,
    event.userAgent,
    event.isBot,
    event.origin,
    event.ipPrefix,
  ];
}
