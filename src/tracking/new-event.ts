import { randomUUID } from 'node:crypto';
import { deriveAttribution, parseUrl, resolveCampaignParams } from './attribution';
import { isBotUserAgent, truncateIp } from './client-context';
import { TrackEventDto } from './dto/track-event.dto';
import { RequestContext } from './request-context';
import { Channel } from './tracked-event.entity';

/** An event ready to store: validated, normalised and attributed. */
export interface NewEvent {
  eventId: string;
  eventType: string;
  visitorId: string | null;
  userId: string | null;
  sessionId: string | null;
  occurredAt: Date;
  receivedAt: Date;
  utmSource: string | null;
  utmMedium: string | null;
  utmCampaign: string | null;
  utmTerm: string | null;
  utmContent: string | null;
  gclid: string | null;
  fbclid: string | null;
  msclkid: string | null;
  pageUrl: string | null;
  referrer: string | null;
  value: number | null;
  currency: string | null;
  properties: Record<string, unknown> | null;
  source: string;
  medium: string;
  campaign: string | null;
  channel: Channel;
  userAgent: string | null;
  isBot: boolean;
  origin: string | null;
  ipPrefix: string | null;
}

export interface StoreResult {
  /** False when an event with the same `eventId` was already stored. */
  stored: boolean;
  /** True when this event linked its visitor to its user for the first time. */
  linked: boolean;
  /** The user the visitor's own events now resolve to (its newest link), if it has one. */
  newestUserId: string | null;
}

/** Turns a validated event and its request into the row to store: ids, time, attribution, context. */
export function buildNewEvent(dto: TrackEventDto, request: RequestContext): NewEvent {
  const pageUrl = dto.page_url ?? null;
  const parsedPageUrl = parseUrl(pageUrl);
  const campaign = resolveCampaignParams(dto, parsedPageUrl);
  const ownHost = (parsedPageUrl ?? parseUrl(request.origin))?.hostname;
  const attribution = deriveAttribution(campaign, dto.referrer ?? undefined, ownHost);
  return {
    eventId: dto.event_id ?? randomUUID(),
    eventType: dto.event_type,
    visitorId: dto.visitor_id ?? null,
    userId: dto.user_id ?? null,
    sessionId: dto.session_id ?? null,
    occurredAt: dto.occurred_at == null ? request.receivedAt : new Date(dto.occurred_at),
    receivedAt: request.receivedAt,
    utmSource: campaign.utm_source ?? null,
    utmMedium: campaign.utm_medium ?? null,
    utmCampaign: campaign.utm_campaign ?? null,
    utmTerm: campaign.utm_term ?? null,
    utmContent: campaign.utm_content ?? null,
    gclid: campaign.gclid ?? null,
    fbclid: campaign.fbclid ?? null,
    msclkid: campaign.msclkid ?? null,
    pageUrl,
    referrer: dto.referrer ?? null,
    value: dto.value ?? null,
    currency: dto.currency ?? null,
    properties: dto.properties ?? null,
    ...attribution,
    userAgent: request.userAgent ?? null,
    isBot: isBotUserAgent(request.userAgent),
    origin: request.origin ?? null,
    ipPrefix: truncateIp(request.ip) ?? null,
  };
}
