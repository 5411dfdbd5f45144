import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { Env, EnvReader, parseBoolean } from './env-parsers';
import { isValidOriginPattern } from '../common/http/origin-matcher';
import { isKnownTimeZone } from '../common/validation/date-range';
import { DEFAULT_FUNNELS, FunnelDefinition, readFunnelsFile } from './funnels-file';
import {
  Ga4Config,
  ReconciliationConfig,
  readGa4Config,
  checkComparedTypes,
  readReconciliationConfig,
} from './reconciliation-config';

/** A DNS host name (RFC 1123 labels), for HOST when it is not an address. */
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'verbose'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface DatabaseConfig {
  /** Unset means: start the embedded PostgreSQL. */
  url: string | undefined;
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  /**
   * DATABASE_URL is a transaction-mode pooler (PgBouncer): no session state, so no named
   * prepared statements and no startup parameters; the statement timeout is the role's.
   */
  transactionPooling: boolean;
  /** Where reports read (a read replica); unset: `url`. */
  reportUrl: string | undefined;
  /** `reportUrl` is a transaction-mode pooler; unset: as `transactionPooling`. */
  reportTransactionPooling: boolean;
  /** Apply pending migrations to DATABASE_URL at start (never through a transaction pooler). */
  migrateOnStart: boolean;
  embeddedDataDir: string;
  embeddedPort: number;
}

export interface HttpConfig {
  host: string;
  port: number;
  /** Fastify's trustProxy: false, true, or a list of trusted addresses/CIDRs. */
  trustProxy: boolean | string;
  corsOrigins: string[];
  shutdownTimeoutMs: number;
  /** Serving on after SIGTERM, /ready answering 503, for load balancers to stop routing here. */
  shutdownDelayMs: number;
  /** A request must arrive whole within it (slow clients cannot hold sockets); idle sockets close after twice it. */
  requestTimeoutMs: number;
  /** Server processes (node:cluster) sharing the port; 1 serves from the main process. */
  workers: number;
}

export interface TrackingConfig {
  /** Most events stored by one statement and one commit (group commit). */
  batchMaxRows: number;
  /** How long a group may wait to fill; 0 flushes on the next tick of the event loop. */
  batchMaxWaitMs: number;
  /** Most events queued or in flight in this process; beyond it an event is refused (503). */
  maxPendingEvents: number;
  maxBodyBytes: number;
  maxEventAgeHours: number;
  rateLimitPerMinute: number;
  /** Days events are kept (whole monthly partitions are dropped past it); undefined: forever. */
  retentionDays: number | undefined;
}

export interface AppConfig {
  logLevel: LogLevel;
  http: HttpConfig;
  database: DatabaseConfig;
  tracking: TrackingConfig;
  /** Keys accepted on the read endpoints; empty means the read endpoints stay closed. */
  apiKeys: string[];
  /** Where replicas share the rate-limit counters; unset: each process counts alone. */
  redisUrl: string | undefined;
  /** IANA time zone in which report dates are days. */
  reportTimeZone: string;
  /** How often the attribution rollup folds new events in the background; 0: only when a report asks. */
  reportRefreshIntervalMs: number;
  funnels: FunnelDefinition[];
  /** Event types that count as conversions; undefined means every type except page_view. */
  conversionEventTypes: string[] | undefined;
  ga4: Ga4Config;
  reconciliation: ReconciliationConfig;
}

/** The only place that reads the environment. Throws InvalidEnvironmentError listing every bad variable. */
export function loadConfig(env: Env, cwd = process.cwd()): AppConfig {
  const read = new EnvReader(env);
  const transactionPooling = read.bool('DB_TRANSACTION_POOLING', false);
  const config: AppConfig = {
    logLevel: read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    http: {
      host: read.string('HOST', '0.0.0.0'),
      port: read.int('PORT', 3000, { min: 0, max: 65535 }),
      trustProxy: parseTrustProxy(read.optionalString('TRUST_PROXY')),
      corsOrigins: read.list('CORS_ORIGINS'),
      shutdownTimeoutMs: read.int('SHUTDOWN_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 }),
      shutdownDelayMs: read.int('SHUTDOWN_DELAY_MS', 0, { min: 0, max: 60_000 }),
      requestTimeoutMs: read.int('HTTP_REQUEST_TIMEOUT_MS', 30_000, { min: 500, max: 600_000 }),
      workers: read.int('WORKERS', 1, { min: 1, max: 64 }),
    },
    database: {
      url: read.optionalString('DATABASE_URL'),
      // Two at least: a transaction (a link's funnel merge, the schedule's claim) holds one while requests need another.
      poolSize: read.int('DB_POOL_SIZE', 10, { min: 2, max: 500 }),
      connectTimeoutMs: read.int('DB_CONNECT_TIMEOUT_MS', 3_000, { min: 100, max: 60_000 }),
      statementTimeoutMs: read.int('DB_STATEMENT_TIMEOUT_MS', 5_000, { min: 100, max: 600_000 }),
      transactionPooling,
      reportUrl: read.optionalString('REPORT_DATABASE_URL'),
      reportTransactionPooling: read.bool('REPORT_DB_TRANSACTION_POOLING', transactionPooling),
      migrateOnStart: read.bool('MIGRATE_ON_START', true),
      embeddedDataDir: absolute(read.string('EMBEDDED_DATABASE_DIR', '.data'), cwd),
      embeddedPort: read.int('EMBEDDED_DATABASE_PORT', 54329, { min: 1, max: 65535 }),
    },
    tracking: {
      batchMaxRows: read.int('TRACK_BATCH_MAX_ROWS', 64, { min: 1, max: 5_000 }),
      batchMaxWaitMs: read.int('TRACK_BATCH_MAX_WAIT_MS', 0, { min: 0, max: 1_000 }),
      maxPendingEvents: read.int('TRACK_MAX_PENDING_EVENTS', 20_000, { min: 1, max: 1_000_000 }),
      maxBodyBytes: read.int('TRACK_MAX_BODY_BYTES', 65_536, { min: 1, max: 10_485_760 }),
      maxEventAgeHours: read.int('TRACK_MAX_EVENT_AGE_HOURS', 72, { min: 1, max: 24 * 365 }),
      rateLimitPerMinute: read.int('RATE_LIMIT_PER_MINUTE', 600, { min: 0, max: 10_000_000 }),
      retentionDays:
        read.optionalString('EVENT_RETENTION_DAYS') === undefined
          ? undefined
          : read.int('EVENT_RETENTION_DAYS', 0, { min: 1, max: 36_500 }),
    },
    apiKeys: read.list('API_KEYS'),
    redisUrl: read.optionalString('REDIS_URL'),
    reportTimeZone: read.string('REPORT_TIMEZONE', 'UTC'),
    reportRefreshIntervalMs: read.int('REPORT_REFRESH_INTERVAL_MS', 500, {
      min: 0,
      max: 3_600_000,
    }),
    funnels: DEFAULT_FUNNELS,
    conversionEventTypes: undefined,
    ga4: readGa4Config(read),
    reconciliation: readReconciliationConfig(read),
  };
  checkComparedTypes(read, config.ga4, config.reconciliation);
  const { retentionDays, maxEventAgeHours } = config.tracking;
  read.check(
    'EVENT_RETENTION_DAYS',
    retentionDays === undefined || retentionDays * 24 >= maxEventAgeHours,
    `must cover TRACK_MAX_EVENT_AGE_HOURS (${maxEventAgeHours} h): events the API accepts must not be dropped at once`,
  );
  read.check(
    'HOST',
    isIP(config.http.host) !== 0 ||
      // An all-digit last label is no host name (RFC 1123 §2.1): `999.1.1.1` is a bad address.
      (HOST_NAME.test(config.http.host) && !/(^|\.)\d+$/.test(config.http.host)),
    `must be an IP address or a host name, got "${config.http.host}"`,
  );
  read.check(
    'SHUTDOWN_DELAY_MS',
    config.http.shutdownDelayMs < config.http.shutdownTimeoutMs / 2,
    `must be less than half of SHUTDOWN_TIMEOUT_MS (${config.http.shutdownTimeoutMs}), which bounds the whole stop`,
  );
  const conversionTypes = read.list('CONVERSION_EVENT_TYPES');
  if (conversionTypes.length > 0) {
    for (const type of conversionTypes) {
      read.check(
        'CONVERSION_EVENT_TYPES',
        /^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(type),
        `has an invalid event type "${type}"`,
      );
    }
    config.conversionEventTypes = conversionTypes;
  }
  read.check(
    'REDIS_URL',
    config.redisUrl === undefined || /^rediss?:\/\/[^/]/.test(config.redisUrl),
    'must be a redis:// or rediss:// URL',
  );
  read.check(
    'REDIS_URL',
    config.redisUrl === undefined || isUrl(config.redisUrl),
    'is not a valid URL (check the host and port, and percent-encode / ? # @ % in the password)',
  );
  read.check(
    'API_KEYS',
    config.apiKeys.every((key) => /^[\x21-\x7E]+$/.test(key)),
    'has a key with a space or a character outside printable ASCII, which no client could send as Authorization: Bearer <key>',
  );
  read.check(
    'REPORT_TIMEZONE',
    isKnownTimeZone(config.reportTimeZone),
    `must be an IANA time zone such as Europe/Berlin, got "${config.reportTimeZone}"`,
  );
  const funnelsFile = read.optionalString('FUNNELS_FILE');
  if (funnelsFile !== undefined) {
    const result = readFunnelsFile(absolute(funnelsFile, cwd));
    if ('problems' in result)
      result.problems.forEach((problem) => read.check('FUNNELS_FILE', false, problem));
    else config.funnels = result.funnels;
  }
  for (const origin of config.http.corsOrigins) {
    read.check(
      'CORS_ORIGINS',
      isValidOriginPattern(origin),
      `has an invalid origin "${origin}" (expected e.g. https://shop.example.com or https://*.example.com)`,
    );
  }
  const { trustProxy } = config.http;
  if (typeof trustProxy === 'string') {
    // Fastify (since 5.12) trusts nobody for a hop count: it cannot tell the proxy from a
    // client that sends enough X-Forwarded-For entries. Refused rather than silently ignored.
    read.check(
      'TRUST_PROXY',
      !/^\d+$/.test(trustProxy),
      "must be true, false or the proxies' addresses/CIDRs (a hop count cannot tell a proxy from a client)",
    );
    for (const entry of trustProxy.split(',').map((item) => item.trim())) {
      read.check(
        'TRUST_PROXY',
        /^\d+$/.test(trustProxy) || isProxyAddress(entry),
        `has "${entry}", which is neither true/false nor an IP address, a CIDR or loopback/linklocal/uniquelocal`,
      );
    }
  }
  read.check(
    'REPORT_DATABASE_URL',
    config.database.reportUrl === undefined || config.database.url !== undefined,
    'needs DATABASE_URL: a replica of the embedded database is not supported',
  );
  for (const [name, url] of [
    ['DATABASE_URL', config.database.url],
    ['REPORT_DATABASE_URL', config.database.reportUrl],
  ] as const) {
    if (url === undefined) continue;
    const postgres = /^postgres(ql)?:\/\//.test(url);
    read.check(name, postgres, 'must be a postgres:// or postgresql:// URL');
    // The value stays out of the message: it may hold the password.
    read.check(
      name,
      !postgres || isUrl(url),
      'is not a valid URL (check the host and port, and percent-encode / ? # @ % in the user name and password)',
    );
  }
  read.assertValid();
  return config;
}

/**
 * The drivers read the URL with `new URL()` and decode its user name and password: one
 * either refuses would crash boot.
 */
function isUrl(value: string): boolean {
  try {
    const url = new URL(value);
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    return true;
  } catch {
    return false;
  }
}

function parseTrustProxy(value: string | undefined): boolean | string {
  if (value === undefined || value.trim() === '') return false;
  // "1" is Express's hop count as often as a boolean: read as true it would trust the
  // client-written end of X-Forwarded-For, so it is refused as a hop count below.
  if (/^\s*\d+\s*$/.test(value) && value.trim() !== '0') return value.trim();
  return parseBoolean(value) ?? value;
}

/** What Fastify's trustProxy list takes: addresses, CIDRs and proxy-addr's named ranges. */
function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  if (ipaddr.isValid(entry)) return true;
  try {
    ipaddr.parseCIDR(entry);
    return true;
  } catch {
    return false;
  }
}

function absolute(path: string, cwd: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}
