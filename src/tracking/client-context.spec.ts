import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { isBotUserAgent, rateLimitKey, truncateIp } from './client-context';

/** The network as ipaddr.js alone computes it: what the plain-IPv4 shortcut must agree with. */
function networkByIpaddr(ip: string): string | undefined {
  if (!ipaddr.isValid(ip)) return undefined;
  let address = ipaddr.parse(ip);
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress())
    address = address.toIPv4Address();
  return address.kind() === 'ipv4'
    ? `${ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/24`).toString()}/24`
    : `${ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/48`).toString()}/48`;
}

describe('truncateIp', () => {
  it.each([
    ['203.0.113.77', '203.0.113.0/24'],
    ['10.1.2.3', '10.1.2.0/24'],
    ['::ffff:198.51.100.9', '198.51.100.0/24'],
    ['2001:db8:abcd:12:3456::1', '2001:db8:abcd::/48'],
    ['::1', '::/48'],
    ['198.51.100.9:5555', '198.51.100.0/24'],
    ['[2001:db8:abcd:12::5]:443', '2001:db8:abcd::/48'],
    ['[2001:db8:abcd:12::5]', '2001:db8:abcd::/48'],
  ])('keeps only the network of %s', (ip, network) => {
    expect(truncateIp(ip)).toBe(network);
  });

  it('agrees with ipaddr.js on every form of address, mapped or not', () => {
    const octet = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map(String),
      fc.constantFrom('00', '01', '010', '0x1f', '255', '256', '1e1', ''),
    );
    const dotted = fc.array(octet, { minLength: 3, maxLength: 5 }).map((parts) => parts.join('.'));
    const address = fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.ipV6(), dotted);
    const prefix = fc.constantFrom('', '::ffff:', '::FFFF:', '::', '::fffe:');
    fc.assert(
      fc.property(prefix, address, (mapped, ip) => {
        expect(truncateIp(mapped + ip)).toBe(networkByIpaddr(mapped + ip));
      }),
      { numRuns: 5_000 },
    );
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
    'Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)',
    'Mozilla/5.0 (compatible; Qwantify/2.4w; +https://www.qwant.com/)/2.4w',
    'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
    'Twitterbot/1.0',
    'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)',
    'WhatsApp/2.23.20.0',
    'Screaming Frog SEO Spider/19.0',
    'GPTBot/1.0',
    'ia_archiver',
    'Feedly/1.0 (+http://www.feedly.com/fetcher.html)',
    // isbot catches these only by its generic rules, as it does libraries: still bots.
    'Pinterest/0.2 (+http://www.pinterest.com/)',
    'Uptime-Kuma/1.23.0',
    'kube-probe/1.27',
    'Claude-User/1.0',
    'Scrapy/2.11.0 (+https://scrapy.org)',
    'Sitebulb/5.0',
    'Mastodon/4.1.2 (http.rb/5.1.1; +https://mastodon.social/)',
    // An HTTP library's name first, but a crawler by its own words.
    'python-requests/2.31 (compatible; MyCrawler/1.0; +http://crawler.example)',
    'curl/8.4.0 (SiteSpider)',
    'Go-http-client/1.1 (compatible; ExampleBot)',
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
    'Java-http-client/17.0.2',
    'ReactorNetty/1.1',
    'AHC/2.1',
    'Symfony HttpClient/Curl',
    'http.rb/5.1.1',
    'hyper/0.14',
    'ky',
    'HTTPie/3.2.2',
    'Typhoeus - https://github.com/typhoeus/typhoeus',
    'Jakarta Commons-HttpClient/3.1',
    'Guzzle/7 curl/7.81 PHP/8.1',
    'Apache-HttpAsyncClient/4.1.4 (Java/11)',
    'Vert.x-WebClient/4.4.0',
    'Mechanize/2.9 Ruby/3.2',
    'PostmanRuntime/7.36.0',
    'superagent',
    'node-fetch/1.0 (+https://github.com/bitinn/node-fetch)',
    'rest-client/2.1.0 (linux-gnu x86_64) ruby/3.2.2p53',
    'python-urllib3/2.0.7',
    'Python-httplib2/0.22.0 (gzip)',
    'PycURL/7.45.2 libcurl/7.88.1 OpenSSL/3.0.11 zlib/1.2.13',
    'tornado/6.3',
    'HTTP-Tiny/0.088',
    'Mojolicious (Perl)',
    'Jersey/2.35 (HttpUrlConnection 17.0.2)',
    'Unirest-Java/3.0',
    'Laminas_Http_Client',
    'go-resty/2.11.0 (https://github.com/go-resty/resty)',
    'ureq/2.9.1',
    'req/0.4.5',
    'hackney/1.20.1',
    'Finch/0.16',
    'Mint/1.5',
    'Elixir/Tesla',
    'libsoup/3.4',
    'cpp-httplib/0.14',
    'lua-resty-http/0.17.1 (Lua) ngx_lua/10025',
    'excon/0.109.0',
    'akka-http/10.2.9',
    'pekko-http/1.0.0',
    'Jetty/11.0.15',
    'fasthttp',
    'Needle/3.2.0 (Node.js v20.10.0; linux x64)',
    'Apache-CXF/3.6.2',
    'http-kit/2.0',
    // An app's own HTTP stack, sending its conversions from the device.
    'React-Native',
    // A site's address is not what the agent says of itself.
    'WordPress/6.4.2; https://robot-kits.com',
    'WordPress/6.4.2; https://www.crawleytownfc.com',
    'GuzzleHttp/7 https://bot.example',
    'WordPress/6.4.2; https://shop.example.com',
    '',
  ])('does not flag %s', (agent) => {
    expect(isBotUserAgent(agent)).toBe(false);
  });
});

describe('rateLimitKey', () => {
  it('counts an IPv4 address alone, an IPv6 /64 as one client, and junk as its peer', () => {
    expect(rateLimitKey('203.0.113.9', '10.0.0.1')).toBe('203.0.113.9');
    expect(rateLimitKey('::ffff:203.0.113.9', undefined)).toBe('203.0.113.9');
    expect(rateLimitKey('2001:db8:1:2:aaaa::1', undefined)).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('2001:db8:1:2:bbbb::9', undefined)).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('2001:db8:1:3::1', undefined)).toBe('2001:db8:1:3::/64');
    expect(rateLimitKey('junk1', '192.0.2.7')).toBe('192.0.2.7');
    expect(rateLimitKey('junk2', '192.0.2.7')).toBe('192.0.2.7');
    expect(rateLimitKey(undefined, undefined)).toBe('unknown');
  });

  it('counts one client whatever port a proxy wrote beside its address', () => {
    expect(rateLimitKey('198.51.100.9:5555', undefined)).toBe('198.51.100.9');
    expect(rateLimitKey('198.51.100.9:6666', undefined)).toBe('198.51.100.9');
    expect(rateLimitKey('[2001:db8:1:2::5]:443', undefined)).toBe('2001:db8:1:2::/64');
  });
});
