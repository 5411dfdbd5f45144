import { Injectable } from '@nestjs/common';
import { FunnelUpdateDto } from '../funnel/dto/funnel-update.dto';
import {
  FUNNEL_UPDATES_BY_EVENT,
  TargetStage,
  advanceFunnelsCtes,
  targetsJson,
} from '../funnel/funnel-advance.sql';
import { Database, PreparedStatement, Sql } from '../persistence/database';
import { MARK_FOR_ATTRIBUTION } from '../reporting/rollup/mark-for-attribution.sql';
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

const COLUMN_TYPES: Record<(typeof COLUMNS)[number], string> = {
  event_id: 'text',
  event_type: 'text',
  visitor_id: 'text',
  user_id: 'text',
  session_id: 'text',
  occurred_at: 'timestamptz',
  received_at: 'timestamptz',
  utm_source: 'text',
  utm_medium: 'text',
  utm_campaign: 'text',
  utm_term: 'text',
  utm_content: 'text',
  gclid: 'text',
  fbclid: 'text',
  msclkid: 'text',
  page_url: 'text',
  referrer: 'text',
  value: 'numeric',
  currency: 'text',
  properties: 'jsonb',
  source: 'text',
  medium: 'text',
  campaign: 'text',
  channel: 'text',
  user_agent: 'text',
  is_bot: 'boolean',
  origin: 'text',
  ip_prefix: 'text',
};

/**
 * The CTEs `claimed` and `inserted` over a CTE `input`: each event's key is claimed in
 * `event_ids` (a partitioned table cannot hold it unique), and only newly claimed events
 * are stored, returning `returning` of each.
 */
function claimAndStore(returning: string): string {
  return `claimed AS (
  INSERT INTO event_ids (event_id, occurred_at)
  SELECT event_id, occurred_at FROM input
  ON CONFLICT DO NOTHING
  RETURNING event_id
), inserted AS (
  INSERT INTO events (${COLUMNS.join(', ')})
  SELECT ${COLUMNS.join(', ')} FROM input JOIN claimed USING (event_id)
  RETURNING ${returning}`;
}

/**
 * Many events, their visitor→user links and their funnel moves in one statement: one
 * round trip and one commit for the whole group, atomic without an explicit
 * transaction, prepared once per connection. Events arrive as one JSON parameter.
 * Claiming the key in `event_ids` (`ON CONFLICT DO NOTHING`) first makes concurrent
 * duplicates store exactly one row, whatever month partition the event falls in (the
 * loser waits for the winner's commit, then claims nothing, stores nothing and moves
 * no funnel).
 * An event's subject is its user, else the user its visitor was linked to, else the
 * visitor. Callers put at most one event per event_id and per subject in a group.
 * Each stored event and new link also marks its identity for the attribution refresher.
 */
export const TRACK_EVENTS: PreparedStatement = {
  name: 'track_events_v12',
  text: `
WITH input AS (
  SELECT * FROM json_to_recordset($1::json)
    AS x(${COLUMNS.map((column) => `${column} ${COLUMN_TYPES[column]}`).join(', ')}, targets json)
), ${claimAndStore('event_id, event_type, visitor_id, user_id, occurred_at, is_bot')}
), linked AS (
  INSERT INTO identity_links (visitor_id, user_id)
  SELECT DISTINCT visitor_id, user_id FROM inserted WHERE visitor_id IS NOT NULL AND user_id IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING visitor_id, user_id
), marked AS (${MARK_FOR_ATTRIBUTION}
), merge_later AS (
  -- Callers send here only pairs they know linked; one made anyway was gone (retention
  -- took it): its visitor's progress is merged by the sweeper, as a new link's is.
  INSERT INTO funnel_link_merges (visitor_id, user_id) SELECT visitor_id, user_id FROM linked
  ON CONFLICT (visitor_id, user_id) DO UPDATE SET user_id = excluded.user_id
), subject AS (
  SELECT i.event_id, i.event_type, i.occurred_at,
         CASE WHEN coalesce(i.user_id, l.user_id) IS NULL THEN 'visitor' ELSE 'user' END AS subject_type,
         coalesce(i.user_id, l.user_id, i.visitor_id) AS subject_id
  FROM inserted i
  LEFT JOIN LATERAL (
    SELECT user_id FROM identity_links
    WHERE visitor_id = i.visitor_id AND i.user_id IS NULL
    ORDER BY linked_at DESC, user_id LIMIT 1
  ) l ON true
),${advanceFunnelsCtes(
    `SELECT x.event_id, t.* FROM input x JOIN subject s USING (event_id)
     CROSS JOIN LATERAL json_to_recordset(x.targets) AS t(funnel text, stage text, stage_index int)`,
  )},
updates AS (${FUNNEL_UPDATES_BY_EVENT})
SELECT x.event_id, i.event_id IS NOT NULL AS stored,
       coalesce(u.funnel_updates, '[]'::json) AS funnel_updates
FROM input x LEFT JOIN inserted i USING (event_id) LEFT JOIN updates u USING (event_id)`,
};

/**
 * The same without funnel work, for use inside a transaction that moves funnels itself
 * (the first event linking a visitor to a user: its progress must merge first). Also
 * answers the visitor's newest user, as TRACK_EVENTS resolves it: the link made here, or
 * else the newest one already stored (this statement's snapshot cannot see its own).
 */
const INSERT_EVENT = `
WITH input AS (
  SELECT ${COLUMNS.map((column) => `?::${COLUMN_TYPES[column]} AS ${column}`).join(', ')}
), ${claimAndStore('visitor_id, user_id, occurred_at, is_bot')}
), linked AS (
  INSERT INTO identity_links (visitor_id, user_id)
  SELECT visitor_id, user_id FROM inserted WHERE visitor_id IS NOT NULL AND user_id IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING visitor_id
), marked AS (${MARK_FOR_ATTRIBUTION}
)
SELECT (SELECT count(*) FROM inserted)::int AS stored, (SELECT count(*) FROM linked)::int AS linked,
       coalesce(
         (SELECT user_id FROM input WHERE EXISTS (SELECT FROM linked)),
         (SELECT l.user_id FROM identity_links l, input i WHERE l.visitor_id = i.visitor_id
          ORDER BY l.linked_at DESC, l.user_id LIMIT 1)
       ) AS newest_user_id`;

export interface EventToTrack {
  event: NewEvent;
  targets: readonly TargetStage[];
  /** For a visitor-only event: the user this process knows the visitor to be linked to. */
  linkedUserId?: string;
}

export interface TrackOutcome {
  stored: boolean;
  funnelUpdates: FunnelUpdateDto[];
}

@Injectable()
export class EventRepository {
  constructor(private readonly database: Database) {}

  /** Stores a group of events and advances their funnel stages; resolves once committed. */
  async trackMany(events: readonly EventToTrack[]): Promise<Map<string, TrackOutcome>> {
    const records = events.map(({ event, targets }) =>
      Object.assign(toRecord(event), { targets: targetsJson(targets) }),
    );
    const rows = await this.database.prepared<{
      event_id: string;
      stored: boolean;
      funnel_updates: FunnelUpdateDto[];
    }>(TRACK_EVENTS, [JSON.stringify(records)]);
    return new Map(
      rows.map((row) => [
        row.event_id,
        {
          stored: row.stored,
          funnelUpdates: row.stored ? row.funnel_updates : [],
        },
      ]),
    );
  }

  /** Inside the caller's transaction: the event and its link only. */
  async insert(event: NewEvent, sql: Sql = this.database): Promise<StoreResult> {
    const rows = await sql.query<{ stored: number; linked: number; newest_user_id: string | null }>(
      INSERT_EVENT,
      toParams(event),
    );
    return {
      stored: rows[0]?.stored === 1,
      linked: rows[0]?.linked === 1,
      newestUserId: rows[0]?.newest_user_id ?? null,
    };
  }
}

/** The event as a JSON record for json_to_recordset: numbers and objects stay JSON, so values are exact. */
function toRecord(event: NewEvent): Record<(typeof COLUMNS)[number], unknown> {
  return {
    event_id: event.eventId,
    event_type: event.eventType,
    visitor_id: event.visitorId,
    user_id: event.userId,
    session_id: event.sessionId,
    occurred_at: event.occurredAt.toISOString(),
    received_at: event.receivedAt.toISOString(),
    utm_source: event.utmSource,
    utm_medium: event.utmMedium,
    utm_campaign: event.utmCampaign,
    utm_term: event.utmTerm,
    utm_content: event.utmContent,
    gclid: event.gclid,
    fbclid: event.fbclid,
    msclkid: event.msclkid,
    page_url: event.pageUrl,
    referrer: event.referrer,
    value: event.value,
    currency: event.currency,
    properties: event.properties,
    source: event.source,
    medium: event.medium,
    campaign: event.campaign,
    channel: event.channel,
    user_agent: event.userAgent,
    is_bot: event.isBot,
    origin: event.origin,
    ip_prefix: event.ipPrefix,
  };
}

/** The same as ?-parameters in COLUMNS order: numbers as exact text, JSON as text. */
function toParams(event: NewEvent): unknown[] {
  const record = toRecord(event);
  record.value = event.value === null ? null : String(event.value);
  record.properties = event.properties === null ? null : JSON.stringify(event.properties);
  return COLUMNS.map((column) => record[column]);
}
