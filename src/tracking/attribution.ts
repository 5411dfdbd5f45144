import { isStorableText } from '../common/validation/text-validators';
import { Channel } from './tracked-event.entity';
import { knownSourceForHost, sourceCategory } from './traffic-sources';

export const CAMPAIGN_PARAMS = [
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
  'gclid',
  'fbclid',
  'msclkid',
] as const;

/** Named as in the request body and in a landing page's query string. */
export type CampaignParams = Partial<Record<(typeof CAMPAIGN_PARAMS)[number], string>>;

export interface Attribution {
  source: string;
  medium: string;
  campaign: string | null;
  channel: Channel;
}

/** The longest each may be, in the body and as read from the landing page (a click id is long). */
export const CAMPAIGN_PARAM_MAX_LENGTH: Record<keyof CampaignParams, number> = {
  utm_source: 256,
  utm_medium: 256,
  utm_campaign: 256,
  utm_term: 256,
  utm_content: 256,
  gclid: 512,
  fbclid: 512,
  msclkid: 512,
};

/**
 * The campaign parameters of an event: each one from the body when given, else from
 * the landing page's query string. Values are trimmed (empty means absent) and source
 * and medium lower-cased, so `Google` and `google ` group together in reports.
 */
export function resolveCampaignParams(
  body: Partial<Record<keyof CampaignParams, string | null>>,
  pageUrl: URL | undefined,
): CampaignParams {
  const query = pageUrl?.searchParams;
  const resolved: CampaignParams = {};
  for (const key of CAMPAIGN_PARAMS) {
    const value = clean(body[key]) ?? fromQuery(query?.get(key), CAMPAIGN_PARAM_MAX_LENGTH[key]);
    if (value !== undefined) resolved[key] = value;
  }
  if (resolved.utm_source) resolved.utm_source = resolved.utm_source.toLowerCase();
  if (resolved.utm_medium) resolved.utm_medium = resolved.utm_medium.toLowerCase();
  return resolved;
}

/**
 * Source, medium and campaign in order of precedence: UTM tags, then ad click ids,
 * then the referrer (a search engine, a social site or any other external host),
 * else direct. `ownHost` is the site's own host (from the page URL or the Origin):
 * a referrer on it is internal navigation, not a source.
 */
export function deriveAttribution(
  params: CampaignParams,
  referrer: string | undefined,
  ownHost: string | undefined,
): Attribution {
  const campaign = params.utm_campaign ?? null;
  if (params.utm_source !== undefined || params.utm_medium !== undefined) {
    return withChannel(
      params.utm_source ?? '(not set)',
      params.utm_medium ?? '(not set)',
      campaign,
    );
  }
  if (params.gclid !== undefined) return withChannel('google', 'cpc', campaign);
  if (params.msclkid !== undefined) return withChannel('bing', 'cpc', campaign);

  const referrerHost = parseUrl(referrer)?.hostname.toLowerCase();
  if (referrerHost && !sameSite(referrerHost, ownHost)) {
    const known = knownSourceForHost(referrerHost);
    if (known?.category === 'search') return withChannel(known.name, 'organic', campaign);
    if (known?.category === 'social') return withChannel(known.name, 'social', campaign);
    if (known?.category === 'video') return withChannel(known.name, 'referral', campaign);
    return withChannel(referrerHost.replace(/^www\./, ''), 'referral', campaign);
  }
  return withChannel('(direct)', '(none)', campaign);
}

const PAID_MEDIUM = /^(.*cp.*|ppc|retargeting|paid.*)$/;
const DISPLAY_MEDIUM = /^(display|banner|expandable|interstitial|cpm)$/;
const SOCIAL_MEDIUM = /^(social|social-network|social-media|sm|social network|social media)$/;
const VIDEO_MEDIUM = /video/;
const REFERRAL_MEDIUM = /^(referral|app|link)$/;
const EMAIL = /^(email|e-mail|e_mail|e mail)$/;

// GA4's campaign-name rules: Cross-network, and the Shopping channels' campaign regex.
const CROSS_NETWORK_CAMPAIGN = /cross-network/i;
const SHOPPING_CAMPAIGN = /^(.*(([^a-df-z]|^)shop|shopping).*)$/i;

/**
 * GA4's default channel grouping, its rules in its order, folded into the channels this
 * service reports: GA4's Cross-network, Shopping, Paid Video, Display, Paid Other, Organic
 * Video, Affiliates and the like are `other` here.
 */
export function deriveChannel(source: string, medium: string, campaign: string | null): Channel {
  const category = sourceCategory(source);
  if (source === '(direct)' && (medium === '(none)' || medium === '(not set)')) return 'direct';
  if (campaign !== null && CROSS_NETWORK_CAMPAIGN.test(campaign)) return 'other';
  const shopping =
    category === 'shopping' || (campaign !== null && SHOPPING_CAMPAIGN.test(campaign));
  if (PAID_MEDIUM.test(medium)) {
    if (shopping) return 'other';
    if (category === 'search') return 'paid_search';
    if (category === 'social') return 'paid_social';
    return 'other';
  }
  if (DISPLAY_MEDIUM.test(medium)) return 'other';
  if (shopping) return 'other';
  if (category === 'social' || SOCIAL_MEDIUM.test(medium)) return 'organic_social';
  if (category === 'video' || VIDEO_MEDIUM.test(medium)) return 'other';
  if (category === 'search' || medium === 'organic') return 'organic_search';
  if (REFERRAL_MEDIUM.test(medium)) return 'referral';
  if (EMAIL.test(source) || EMAIL.test(medium)) return 'email';
  return 'other';
}

function withChannel(source: string, medium: string, campaign: string | null): Attribution {
  return { source, medium, campaign, channel: deriveChannel(source, medium, campaign) };
}

function sameSite(host: string, ownHost: string | undefined): boolean {
  if (ownHost === undefined) return false;
  const strip = (h: string) => h.toLowerCase().replace(/^www\./, '');
  return strip(host) === strip(ownHost);
}

/**
 * A landing-page parameter, capped at `maxLength` characters (code points, as the body's
 * fields are counted, so no character is split); one PostgreSQL cannot store (a decoded
 * %00) is ignored.
 */
function fromQuery(value: string | null | undefined, maxLength: number): string | undefined {
  const cleaned = clean(value);
  // No longer in code points than in UTF-16 units: only a long value needs counting.
  const capped =
    cleaned === undefined || cleaned.length <= maxLength
      ? cleaned
      : Array.from(cleaned).slice(0, maxLength).join('');
  return capped !== undefined && isStorableText(capped) ? capped : undefined;
}

function clean(value: string | null | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

export function parseUrl(value: string | null | undefined): URL | undefined {
  if (value == null) return undefined;
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
