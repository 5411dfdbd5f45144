import { describe, expect, it } from 'vitest';
import { loadConfig } from './app-config';
import { InvalidEnvironmentError } from './env-parsers';

/** The error loadConfig stops with for `env`; the test fails if it does not stop. */
function refusal(env: Record<string, string>): InvalidEnvironmentError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidEnvironmentError);
    return error as InvalidEnvironmentError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config.http).toMatchObject({
      host: '0.0.0.0',
      port: 3000,
      trustProxy: false,
      corsOrigins: [],
    });
    expect(config.tracking).toEqual({
      batchMaxRows: 64,
      batchMaxWaitMs: 0,
      maxPendingEvents: 20_000,
      maxBodyBytes: 65_536,
      maxEventAgeHours: 72,
      rateLimitPerMinute: 600,
    });
    expect(config.database).toMatchObject({ url: undefined, embeddedDataDir: '/srv/app/.data' });
  });

  it('parses lists, numbers and TRUST_PROXY forms', () => {
    const config = loadConfig({
      CORS_ORIGINS: ' https://a.com , https://*.b.com,',
      PORT: '8080',
      TRUST_PROXY: '10.0.0.1, 10.0.0.2',
    });
    expect(config.http.corsOrigins).toEqual(['https://a.com', 'https://*.b.com']);
    expect(config.http.port).toBe(8080);
    // Any positive body limit is the operator's to choose, however small.
    expect(loadConfig({ TRACK_MAX_BODY_BYTES: '200' }).tracking.maxBodyBytes).toBe(200);
    expect(() => loadConfig({ TRACK_MAX_BODY_BYTES: '0' })).toThrow(/TRACK_MAX_BODY_BYTES/);
    expect(config.http.trustProxy).toBe('10.0.0.1, 10.0.0.2');
    expect(() => loadConfig({ TRUST_PROXY: '2' })).toThrow(/TRUST_PROXY.*hop count/);
    expect(() => loadConfig({ TRUST_PROXY: 'proxy.internal' })).toThrow(/TRUST_PROXY has "proxy/);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.1, 300.1.1.1' })).toThrow(/300\.1\.1\.1/);
    // Booleans read as every other boolean setting does.
    expect(() => loadConfig({ TRUST_PROXY: '1' })).toThrow(/TRUST_PROXY.*hop count/);
    for (const yes of ['true', 'TRUE', 'yes']) {
      expect(loadConfig({ TRUST_PROXY: yes }).http.trustProxy).toBe(true);
    }
    for (const no of ['false', '0', 'no', '']) {
      expect(loadConfig({ TRUST_PROXY: no }).http.trustProxy).toBe(false);
    }
    expect(loadConfig({ TRUST_PROXY: 'loopback, fd00::/8' }).http.trustProxy).toBe(
      'loopback, fd00::/8',
    );
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8' }).http.trustProxy).toBe('10.0.0.0/8');
  });

  it('reads a value quoted as a shell would need it, as docker --env-file passes it on', () => {
    expect(loadConfig({ RECONCILE_CRON: '"0 6 * * *"' }).reconciliation.cron).toBe('0 6 * * *');
    expect(loadConfig({ REPORT_TIMEZONE: "'Europe/Berlin'" }).reportTimeZone).toBe('Europe/Berlin');
    expect(loadConfig({ GA4_EVENT_NAME_MAP: '{"sign_up":"signup"}' }).ga4.eventNameMap).toEqual({
      sign_up: 'signup',
    });
  });

  it('names every invalid variable at once', () => {
    const error = refusal({
      PORT: 'eighty',
      RATE_LIMIT_PER_MINUTE: '-1',
      CORS_ORIGINS: '*',
      DATABASE_URL: 'mysql://x',
      LOG_LEVEL: 'loud',
      DB_POOL_SIZE: '1',
    });
    const message = error.message;
    for (const name of [
      'PORT',
      'RATE_LIMIT_PER_MINUTE',
      'CORS_ORIGINS',
      'DATABASE_URL',
      'LOG_LEVEL',
      'DB_POOL_SIZE',
    ])
      expect(message).toContain(name);
  });

  it('refuses a database or Redis URL that does not parse, naming the variable but not the value', () => {
    const valid = 'postgresql://postgres@127.0.0.1:5432/db';
    for (const [env, name] of [
      [{ DATABASE_URL: 'postgresql://postgres@127.0.0.1:notaport/db' }, 'DATABASE_URL'],
      [{ DATABASE_URL: 'postgres://app:pa#ss@db:5432/db' }, 'DATABASE_URL'],
      [{ DATABASE_URL: 'postgresql://app@db:99999/db' }, 'DATABASE_URL'],
      [{ DATABASE_URL: 'postgresql://app:pa%zzss@db:5432/db' }, 'DATABASE_URL'],
      [{ REDIS_URL: 'redis://:pa%zzss@127.0.0.1:6379/0' }, 'REDIS_URL'],
      [{ REDIS_URL: 'redis://127.0.0.1:99999/0' }, 'REDIS_URL'],
      [
        { DATABASE_URL: valid, REPORT_DATABASE_URL: 'postgresql://r@replica:port/db' },
        'REPORT_DATABASE_URL',
      ],
    ] as const) {
      const error = refusal(env);
      expect(error.problems).toEqual([
        expect.stringMatching(new RegExp(`^${name} is not a valid URL`)),
      ]);
      expect(error.message).not.toContain('pa#ss');
      expect(error.message).not.toContain('pa%zzss');
    }
  });

  it('refuses API keys no client could send as a bearer token: spaces, non-ASCII', () => {
    for (const key of ['correct horse battery staple 0123', 'kéy-0123456789abcdef']) {
      expect(refusal({ API_KEYS: `good-0123456789abcdef,${key}` }).problems).toEqual([
        expect.stringMatching(/^API_KEYS has a key with a space/),
      ]);
    }
  });

  it('keeps accepting the database URLs it accepted, unchanged', () => {
    for (const url of [
      'postgresql://postgres@127.0.0.1:5432/postgres',
      'postgres://app:s3cret@db.internal/conversions?sslmode=require',
      'postgresql://postgres@127.0.0.1:5432/db?password=TOPSECRET',
      'postgresql:///conversions?host=/var/run/postgresql',
    ]) {
      const config = loadConfig({ DATABASE_URL: url, REPORT_DATABASE_URL: url });
      expect(config.database).toMatchObject({ url, reportUrl: url });
    }
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(
      /DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL$/,
    );
  });

  it('reads the report database as pooled like the primary unless told otherwise', () => {
    const pooling = (env: Record<string, string>) => {
      const { transactionPooling, reportTransactionPooling } = loadConfig(env).database;
      return [transactionPooling, reportTransactionPooling];
    };
    expect(pooling({})).toEqual([false, false]);
    expect(pooling({ DB_TRANSACTION_POOLING: 'true' })).toEqual([true, true]);
    expect(
      pooling({ DB_TRANSACTION_POOLING: 'true', REPORT_DB_TRANSACTION_POOLING: 'false' }),
    ).toEqual([true, false]);
    expect(pooling({ REPORT_DB_TRANSACTION_POOLING: 'yes' })).toEqual([false, true]);
    expect(refusal({ DB_TRANSACTION_POOLING: 'maybe' }).problems).toEqual([
      'DB_TRANSACTION_POOLING must be true or false, got "maybe"',
    ]);
  });

  it('stops on a bad FUNNELS_FILE, naming it and the reason', () => {
    expect(() => loadConfig({ FUNNELS_FILE: '/nonexistent/funnels.json' })).toThrow(
      /FUNNELS_FILE cannot read/,
    );
  });

  it('checks REPORT_TIMEZONE and reads API keys of any length', () => {
    expect(() => loadConfig({ REPORT_TIMEZONE: 'Mars/Base' })).toThrow(/REPORT_TIMEZONE/);
    expect(
      loadConfig({ REPORT_TIMEZONE: 'Europe/Berlin', API_KEYS: 'k1-0123456789abcdef, short' }),
    ).toMatchObject({ reportTimeZone: 'Europe/Berlin', apiKeys: ['k1-0123456789abcdef', 'short'] });
  });

  it('reads the reconciliation, GA4 and Redis settings with their defaults', () => {
    const config = loadConfig({});
    expect(config.ga4).toMatchObject({
      propertyId: undefined,
      credentialsFile: undefined,
      apiUrl: 'https://analyticsdata.googleapis.com',
      timeoutMs: 10_000,
      retries: 2,
      pageSize: 10_000,
      eventNameMap: {},
    });
    expect(config.reconciliation).toEqual({
      eventTypes: undefined,
      warningPct: 5,
      criticalPct: 20,
      cron: '0 6 * * *',
      lookbackDays: 3,
      retryDelayMs: 60_000,
      leaseMs: 60_000,
    });
    expect(config.redisUrl).toBeUndefined();
    expect(config.reportRefreshIntervalMs).toBe(500);
    expect(config.http.requestTimeoutMs).toBe(30_000);
    const custom = loadConfig({
      GA4_EVENT_NAME_MAP: '{"sign_up":"signup_complete"}',
      RECONCILE_EVENT_TYPES: 'purchase, sign_up',
      RECONCILE_CRON: 'off',
      RECONCILE_WARNING_PCT: '2.5',
      REDIS_URL: 'redis://cache:6379/2',
    });
    expect(custom.ga4.eventNameMap).toEqual({ sign_up: 'signup_complete' });
    expect(custom.reconciliation).toMatchObject({
      eventTypes: ['purchase', 'sign_up'],
      cron: undefined,
      warningPct: 2.5,
    });
    expect(custom.redisUrl).toBe('redis://cache:6379/2');
  });

  it('refuses a GA4_API_URL that is no URL and a shutdown with no time to drain', () => {
    const problems = refusal({
      GA4_API_URL: 'https://exa mple.com',
      SHUTDOWN_TIMEOUT_MS: '0',
    }).problems.join('\n');
    expect(problems).toContain('GA4_API_URL');
    expect(problems).toContain('SHUTDOWN_TIMEOUT_MS');
  });

  it('keeps SHUTDOWN_DELAY_MS under half of SHUTDOWN_TIMEOUT_MS, which bounds the whole stop', () => {
    expect(loadConfig({ SHUTDOWN_DELAY_MS: '4000' }).http.shutdownDelayMs).toBe(4_000);
    expect(loadConfig({}).http.shutdownDelayMs).toBe(0);
    expect(
      refusal({ SHUTDOWN_DELAY_MS: '5000', SHUTDOWN_TIMEOUT_MS: '10000' }).problems.join('\n'),
    ).toContain('SHUTDOWN_DELAY_MS must be less than half of SHUTDOWN_TIMEOUT_MS (10000)');
  });

  it('refuses bad reconciliation, GA4 and Redis settings, naming each', () => {
    const error = refusal({
      GA4_EVENT_NAME_MAP: '["purchase"]',
      RECONCILE_CRON: 'every day',
      RECONCILE_WARNING_PCT: '30',
      RECONCILE_CRITICAL_PCT: '20',
      GA4_API_URL: 'ftp://example.com',
      REDIS_URL: 'localhost:6379',
    });
    const problems = error.problems.join('\n');
    for (const name of [
      'GA4_EVENT_NAME_MAP',
      'RECONCILE_CRON',
      'RECONCILE_CRITICAL_PCT',
      'GA4_API_URL',
      'REDIS_URL',
    ]) {
      expect(problems).toContain(name);
    }
  });

  it.each([
    ['GA4_PROPERTY_ID', { GA4_PROPERTY_ID: 'abc' }],
    ['GA4_PROPERTY_ID', { GA4_PROPERTY_ID: '-5' }],
    ['GA4_CREDENTIALS_FILE', { GA4_CREDENTIALS_FILE: '/nonexistent/key.json' }],
    ['RECONCILE_EVENT_TYPES', { RECONCILE_EVENT_TYPES: 'purchase, bad type!' }],
    ['GA4_EVENT_NAME_MAP', { GA4_EVENT_NAME_MAP: '{"sign up!":"signup"}' }],
    ['GA4_EVENT_NAME_MAP', { GA4_EVENT_NAME_MAP: '{"sign_up":"bad name!"}' }],
    ['GA4_EVENT_NAME_MAP', { GA4_EVENT_NAME_MAP: '{"a_one":"shared","a_two":"shared"}' }],
    ['RECONCILE_CRON', { RECONCILE_CRON: '0 0 30 2 *' }],
    [
      'RECONCILE_EVENT_TYPES',
      {
        GA4_EVENT_NAME_MAP: '{"signup_complete":"sign_up"}',
        RECONCILE_EVENT_TYPES: 'sign_up,signup_complete',
      },
    ],
    ['HOST', { HOST: 'not a host!' }],
    ['HOST', { HOST: '999.1.1.1' }],
    ['HOST', { HOST: '10.0.0' }],
  ])('stops on an invalid %s (%j), naming it', (name, env) => {
    const error = refusal(env);
    expect(error.problems.join('\n')).toContain(name);
  });

  it('accepts host names and addresses for HOST', () => {
    for (const host of [
      '0.0.0.0',
      '::',
      '127.0.0.1',
      'localhost',
      'api.internal.example.com',
      '1e100.net',
    ])
      expect(loadConfig({ HOST: host }).http.host).toBe(host);
  });
});
