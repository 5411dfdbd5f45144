import { describe, expect, it } from 'vitest';
import { loadConfig } from './app-config';
import { InvalidEnvironmentError } from './env-parsers';

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
      batchMaxRows: 256,
      batchMaxWaitMs: 0,
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
      TRUST_PROXY: '2',
    });
    expect(config.http.corsOrigins).toEqual(['https://a.com', 'https://*.b.com']);
    expect(config.http.port).toBe(8080);
    expect(config.http.trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8' }).http.trustProxy).toBe('10.0.0.0/8');
  });

  it('names every invalid variable at once', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        RATE_LIMIT_PER_MINUTE: '-1',
        CORS_ORIGINS: '*',
        DATABASE_URL: 'mysql://x',
        LOG_LEVEL: 'loud',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidEnvironmentError);
    const message = (error as Error).message;
    for (const name of [
      'PORT',
      'RATE_LIMIT_PER_MINUTE',
      'CORS_ORIGINS',
      'DATABASE_URL',
      'LOG_LEVEL',
    ])
      expect(message).toContain(name);
  });

  it('stops on a bad FUNNELS_FILE, naming it and the reason', () => {
    expect(() => loadConfig({ FUNNELS_FILE: '/nonexistent/funnels.json' })).toThrow(
      /FUNNELS_FILE cannot read/,
    );
  });

  it('checks REPORT_TIMEZONE and API key length', () => {
    expect(() => loadConfig({ REPORT_TIMEZONE: 'Mars/Base' })).toThrow(/REPORT_TIMEZONE/);
    expect(() => loadConfig({ API_KEYS: 'short' })).toThrow(/API_KEYS/);
    expect(
      loadConfig({ REPORT_TIMEZONE: 'Europe/Berlin', API_KEYS: 'k1-0123456789abcdef' }),
    ).toMatchObject({ reportTimeZone: 'Europe/Berlin', apiKeys: ['k1-0123456789abcdef'] });
  });
});
