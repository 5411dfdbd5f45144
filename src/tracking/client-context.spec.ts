import { describe, expect, it } from 'vitest';
import { isBotUserAgent, truncateIp } from './client-context';

describe('truncateIp', () => {
  it.each([
    ['203.0.113.77', '203.0.113.0/24'],
    ['10.1.2.3', '10.1.2.0/24'],
    ['::ffff:198.51.100.9', '198.51.100.0/24'],
    ['2001:db8:abcd:12:3456::1', '2001:db8:abcd::/48'],
    ['::1', '::/48'],
  ])('keeps only the network of %s', (ip, network) => {
    expect(truncateIp(ip)).toBe(network);
  });

  it('returns undefined for anything that is not an address', () => {
    expect(truncateIp(undefined)).toBeUndefined();
    expect(truncateIp('not-an-ip')).toBeUndefined();
  });
});

describe('isBotUserAgent', () => {
  it.each([
    'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1',
  ])('flags %s', (agent) => {
    expect(isBotUserAgent(agent)).toBe(true);
  });

  it.each([
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
    'python-requests/2.31.0',
    'curl/8.4.0',
    'axios/1.6.2',
    'node',
    'Go-http-client/1.1',
    'okhttp/4.12.0',
    'Java/17.0.2',
    'GuzzleHttp/7',
    '',
  ])('does not flag %s', (agent) => {
    expect(isBotUserAgent(agent)).toBe(false);
  });
});
