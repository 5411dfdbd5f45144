import { isISO8601 } from 'class-validator';
import type { AppConfig } from '../../config/app-config';
import { eventTimeProblem } from '../../common/validation/event-time-window.constraint';
import { isSimpleText } from '../../common/validation/fast-check';
import { jsonObjectProblem } from '../../common/validation/json-object.validator';
import { GA4_EVENT_NAME, ISO_WITH_OFFSET, PRINTABLE } from '../../common/validation/patterns';
import { isHttpUrl } from '../../common/validation/text-validators';
import { CAMPAIGN_PARAM_MAX_LENGTH } from '../attribution';

/** Optional text fields and their longest accepted length (see TrackEventDto). */
const TEXT_FIELDS: Record<string, number> = {
  event_id: 128,
  user_id: 128,
  session_id: 128,
  ...CAMPAIGN_PARAM_MAX_LENGTH,
};
const MIN_LENGTH: Record<string, number> = { event_id: 1, user_id: 1, session_id: 1 };
/** Trimmed by the DTO before validation: a padded value takes the full path. */
const TRIMMED = new Set(['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content']);
const URL_FIELDS = ['page_url', 'referrer'];
const KNOWN_FIELDS = new Set([
  ...Object.keys(TEXT_FIELDS),
  ...URL_FIELDS,
  'event_type',
  'visitor_id',
  'occurred_at',
  'properties',
  'value',
  'currency',
]);
const ISO_OPTIONS = { strict: true, strictSeparator: true };
const PROPERTIES_LIMITS = { maxBytes: 8192, maxDepth: 5 };
/**
 * Far above any real order, low enough that the reports' per-currency sums of values stay
 * finite doubles: two events near 1e308 made a total Infinity, answered as null.
 */
export const MAX_EVENT_VALUE = 1e15;

/**
 * The track body in its ordinary shape, checked by hand at a fraction of
 * class-validator's cost (it was 15% of the track path's CPU). Conservative: an absent
 * field is fine, a `null`, an unknown field or text outside `isSimpleText` is left to
 * the full validation, which also words every error.
 */
export function isPlainlyValidTrackEvent(
  body: Record<string, unknown>,
  config: AppConfig,
): boolean {
  for (const key in body) if (!KNOWN_FIELDS.has(key) || body[key] === null) return false;
  if (!isSimpleText(body.event_type, 1, 40) || !GA4_EVENT_NAME.test(body.event_type)) return false;
  for (const field in TEXT_FIELDS) {
    const value = body[field];
    if (value === undefined) continue;
    if (!isSimpleText(value, MIN_LENGTH[field] ?? 0, TEXT_FIELDS[field])) return false;
    if (TRIMMED.has(field) && value !== value.trim()) return false;
  }
  if (body.event_id !== undefined && !PRINTABLE.test(body.event_id as string)) return false;
  const { visitor_id: visitor, user_id: user } = body;
  if (visitor === undefined ? user === undefined : !isSimpleText(visitor, 1, 128)) return false;
  for (const field of URL_FIELDS) {
    const value = body[field];
    if (value !== undefined && !(isSimpleText(value, 0, 2048) && isHttpUrl(value))) return false;
  }
  const { occurred_at: occurredAt, value, currency, properties } = body;
  if (
    occurredAt !== undefined &&
    !(
      typeof occurredAt === 'string' &&
      ISO_WITH_OFFSET.test(occurredAt) &&
      isISO8601(occurredAt, ISO_OPTIONS) &&
      eventTimeProblem(occurredAt, config.tracking.maxEventAgeHours) === undefined
    )
  )
    return false;
  if (
    value !== undefined &&
    !(typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_EVENT_VALUE)
  )
    return false;
  if ((value !== undefined || currency !== undefined) && !isCurrency(currency)) return false;
  return properties === undefined || jsonObjectProblem(properties, PROPERTIES_LIMITS) === undefined;
}

function isCurrency(value: unknown): boolean {
  return typeof value === 'string' && /^[A-Z]{3}$/.test(value);
}
