import { CronTime } from 'cron';
import { resolve } from 'node:path';
import { GA4_EVENT_NAME } from '../common/validation/patterns';
import { readServiceAccount } from '../ga4/service-account';
import { EnvReader } from './env-parsers';

/** GA4's event-name rule with its 40-character limit: our types and GA4's names both follow it. */
function isEventName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= 40 && GA4_EVENT_NAME.test(name);
}

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
  /**
   * How long a replica's claim on a scheduled run lasts unless it renews it (a third of
   * this apart): a replica that died mid-run has its run taken over once it has lapsed.
   */
  leaseMs: number;
}

export function readGa4Config(read: EnvReader): Ga4Config {
  const apiUrl = read.string('GA4_API_URL', GA4_DEFAULT_API_URL).replace(/\/+$/, '');
  read.check(
    'GA4_API_URL',
    /^https?:\/\/[^/]+/.test(apiUrl) && URL.canParse(apiUrl),
    `must be an http(s) URL, got "${apiUrl}"`,
  );
  const propertyId = read.optionalString('GA4_PROPERTY_ID');
  read.check(
    'GA4_PROPERTY_ID',
    propertyId === undefined || /^[1-9]\d{0,19}$/.test(propertyId),
    "must be the GA4 property's numeric id (Admin → Property details), such as 123456789",
  );
  const credentialsFile = read.optionalString('GA4_CREDENTIALS_FILE');
  if (credentialsFile !== undefined) {
    try {
      readServiceAccount(resolve(credentialsFile));
    } catch (error) {
      read.check('GA4_CREDENTIALS_FILE', false, (error as Error).message);
    }
  }
  return {
    propertyId,
    credentialsFile,
    apiUrl,
    timeoutMs: read.int('GA4_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 }),
    retries: read.int('GA4_RETRIES', 2, { min: 0, max: 10 }),
    pageSize: read.int('GA4_PAGE_SIZE', 10_000, { min: 1, max: 250_000 }),
    eventNameMap: readEventNameMap(read),
  };
}

export function readReconciliationConfig(read: EnvReader): ReconciliationConfig {
  const eventTypes = read.list('RECONCILE_EVENT_TYPES');
  for (const type of eventTypes) {
    read.check('RECONCILE_EVENT_TYPES', isEventName(type), `has an invalid event type "${type}"`);
  }
  const config: ReconciliationConfig = {
    eventTypes: eventTypes.length > 0 ? eventTypes : undefined,
    warningPct: read.number('RECONCILE_WARNING_PCT', 5, { min: 0, max: 1_000_000 }),
    criticalPct: read.number('RECONCILE_CRITICAL_PCT', 20, { min: 0, max: 1_000_000 }),
    cron: read.string('RECONCILE_CRON', '0 6 * * *'),
    lookbackDays: read.int('RECONCILE_LOOKBACK_DAYS', 3, { min: 1, max: 366 }),
    retryDelayMs: read.int('RECONCILE_RETRY_DELAY_MS', 60_000, { min: 10, max: 86_400_000 }),
    leaseMs: read.int('RECONCILE_LEASE_MS', 60_000, { min: 300, max: 3_600_000 }),
  };
  read.check(
    'RECONCILE_CRITICAL_PCT',
    config.criticalPct >= config.warningPct,
    'must not be below RECONCILE_WARNING_PCT',
  );
  if (config.cron === 'off') config.cron = undefined;
  try {
    // sendAt finds the next run: an expression that never fires (30 February) fails here, not at start.
    if (config.cron !== undefined) new CronTime(config.cron, 'UTC').sendAt();
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
    Object.entries(parsed).every(([type, name]) => isEventName(type) && isEventName(name));
  read.check(
    'GA4_EVENT_NAME_MAP',
    ok,
    'must map event types to GA4 event names, both letters, digits and _ starting with a letter (≤ 40)',
  );
  if (!ok) return {};
  const map = parsed as Record<string, string>;
  // Two of our types read from one GA4 name would each be compared with all of its count.
  const names = Object.values(map);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  read.check(
    'GA4_EVENT_NAME_MAP',
    repeated === undefined,
    `maps two event types to the GA4 name "${repeated}": each GA4 name can be compared with one type`,
  );
  return map;
}

/**
 * RECONCILE_EVENT_TYPES must not hold two types compared with one GA4 name (a type mapped
 * onto another's own name): GA4's count would be compared twice.
 */
export function checkComparedTypes(
  read: EnvReader,
  ga4: Ga4Config,
  reconciliation: ReconciliationConfig,
): void {
  const byName = new Map<string, string>();
  for (const type of reconciliation.eventTypes ?? []) {
    const name = Object.hasOwn(ga4.eventNameMap, type) ? ga4.eventNameMap[type] : type;
    const other = byName.get(name);
    read.check(
      'RECONCILE_EVENT_TYPES',
      other === undefined,
      `compares ${other} and ${type} both with GA4's ${name} (see GA4_EVENT_NAME_MAP)`,
    );
    byName.set(name, type);
  }
}
