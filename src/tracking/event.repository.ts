import { Injectable } from '@nestjs/common';
import { Database, Sql } from '../persistence/database';
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
 * The event and its visitor→user link in one statement, so it is atomic without an
 * explicit transaction (one round trip), and `ON CONFLICT` makes concurrent duplicates
 * of an `event_id` store exactly one row: the loser waits for the winner's commit and
 * then inserts nothing.
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

  /** On its own, resolves only once the row is committed; inside a transaction, with it. */
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
