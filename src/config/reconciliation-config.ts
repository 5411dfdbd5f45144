import { CronTime } from 'cron';
import { EnvReader } from './env-parsers';

export const GA4_DEFAULT_API_URL = 'https://analyticsdata.googleapis.com';

export interface Ga4Config {
  /** Unset: reconciliation answers 503 naming the missing variables. */
  propertyId: string | undefined;
  credentialsFile: string | undefined;
  apiUrl: string;
  timeoutMs: number;
  retries: number;
  /** Rows per runReport page. */
  pageSize: number;
  /** Our event type → GA4 event name, where they differ. */
  eventNameMap: Record<string, string>;
}

export interface ReconciliationConfig {
  /** Undefined: the types we stored in the range. */
  eventTypes: string[] | undefined;
  warningPct: number;
  criticalPct: number;
  /** Cron expression, evaluated in UTC; undefined (`off`): no scheduled runs. */
  cron: string | undefined;
  lookbackDays: number;
  /** First wait before retrying a failed scheduled run; doubled for each further retry. */
  retryDelayMs: number;
}

export function readGa4Config(read: EnvReader): Ga4Config {
  const apiUrl = read.string('GA4_API_URL', GA4_DEFAULT_API_URL).replace(/\/+$/, '');
  read.check(
    'GA4_API_URL',
    /^https?:\/\/[^/]+/.test(apiUrl),
    `must be an http(s) URL, got "${apiUrl}"`,
  );
  return {
    propertyId: read.optionalString('GA4_PROPERTY_ID'),
    credentialsFile: read.optionalString('GA4_CREDENTIALS_FILE'),
    apiUrl,
    timeoutMs: read.int('GA4_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 }),
    retries: read.int('GA4_RETRIES', 2, { min: 0, max: 10 }),
    pageSize: read.int('GA4_PAGE_SIZE', 10_000, { min: 1, max: 250_000 }),
    eventNameMap: readEventNameMap(read),
  };
}

export function readReconciliationConfig(read: EnvReader): ReconciliationConfig {
  const eventTypes = read.list('RECONCILE_EVENT_TYPES');
  const config: ReconciliationConfig = {
    eventTypes: eventTypes.length > 0 ? eventTypes : undefined,
    warningPct: read.number('RECONCILE_WARNING_PCT', 5, { min: 0, max: 1_000_000 }),
    criticalPct: read.number('RECONCILE_CRITICAL_PCT', 20, { min: 0, max: 1_000_000 }),
    cron: read.string('RECONCILE_CRON', '0 6 * * *'),
    lookbackDays: read.int('RECONCILE_LOOKBACK_DAYS', 3, { min: 1, max: 366 }),
    retryDelayMs: read.int('RECONCILE_RETRY_DELAY_MS', 60_000, { min: 10, max: 86_400_000 }),
  };
  read.check(
    'RECONCILE_CRITICAL_PCT',
    config.criticalPct >= config.warningPct,
    'must not be below RECONCILE_WARNING_PCT',
  );
  if (config.cron === 'off') config.cron = undefined;
  try {
    if (config.cron !== undefined) new CronTime(config.cron, 'UTC');
  } catch (error) {
    read.check(
      'RECONCILE_CRON',
      false,
      `is not a cron expression (or off): ${(error as Error).message}`,
    );
  }
  return config;
}

function readEventNameMap(read: EnvReader): Record<string, string> {
  const text = read.optionalString('GA4_EVENT_NAME_MAP');
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    read.check('GA4_EVENT_NAME_MAP', false, 'must be a JSON object such as {"sign_up":"signup"}');
    return {};
  }
  const ok =
    typeof parsed === 'object' &&
    parsed !== null &&
    !Array.isArray(parsed) &&
    Object.values(parsed).every((name) => typeof name === 'string' && name !== '');
  read.check('GA4_EVENT_NAME_MAP', ok, 'must map event types to non-empty GA4 event names');
  return ok ? (parsed as Record<string, string>) : {};
}
