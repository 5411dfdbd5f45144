import ipaddr from 'ipaddr.js';
import { isbot } from 'isbot';

// Server-to-server callers identify with their HTTP library, and some apps with their
// own HTTP stack; they are customers, not crawlers, although isbot flags every agent that
// is not a browser's. Named
// one by one: isbot's generic rules also catch monitors, link previews and AI agents,
// which must stay bots. WordPress is WooCommerce's back end calling out.
const HTTP_LIBRARY =
  /^(curl|pycurl|wget|python-requests|python-urllib3?|python-httpx|python-httplib2|python\/|httpx|aiohttp|tornado|axios|node-fetch|node|undici|got|superagent|ky|go-http-client|go-resty|okhttp|java\/|java-http-client|apache-httpclient|apache-httpasyncclient|jakarta commons-httpclient|jersey|unirest-java|reactornetty|ahc|vert\.x-webclient|ruby|rest-client|faraday|http\.rb|typhoeus|mechanize|guzzle|guzzlehttp|symfony httpclient|laminas_http_client|zend_http_client|php|wordpress|libwww-perl|http-tiny|mojolicious|dart|deno|bun|hyper|reqwest|ureq|ktor-client|httpie|postmanruntime|insomnia|restsharp|\.net|dotnet|httpclient|elixir|hackney|finch|mint|req|libsoup|cpp-httplib|lua-resty-http|excon|akka-http|pekko-http|jetty|fasthttp|needle|apache-cxf|http-kit|react-native)\b/i;

// What a crawler built on such a library still says of itself: a bot's, crawler's or
// spider's name, read outside addresses (WordPress gives its site's: robot-kits.com).
// Not a "+http://…" page alone: node-fetch 2's own agent gives one.
const DECLARES_CRAWLER = /bot\b|crawl|spider|scrap/i;
const ADDRESS = /\b(?:https?:\/\/|www\.)\S*/gi;

// A few hundred distinct agents make up nearly all traffic, and isbot's pattern is large.
const verdicts = new Map<string, boolean>();
const MAX_CACHED_AGENTS = 5_000;
// Real agents are a few hundred characters; longer ones (up to the header limit) would
// make the cache hold megabytes of keys for no hits.
const MAX_CACHED_AGENT_LENGTH = 512;

/** Crawlers and headless browsers, by isbot's maintained list; HTTP client libraries are not bots unless they say so. */
export function isBotUserAgent(userAgent: string | undefined): boolean {
  if (userAgent === undefined || userAgent.trim() === '') return false;
  let verdict = verdicts.get(userAgent);
  if (verdict === undefined) {
    const library =
      HTTP_LIBRARY.test(userAgent.trim()) && !DECLARES_CRAWLER.test(userAgent.replace(ADDRESS, ''));
    verdict = !library && isbot(userAgent);
    if (userAgent.length > MAX_CACHED_AGENT_LENGTH) return verdict;
    if (verdicts.size >= MAX_CACHED_AGENTS) verdicts.clear();
    verdicts.set(userAgent, verdict);
  }
  return verdict;
}

// Plain dotted-decimal IPv4, bare or IPv4-mapped: nearly every client address. No
// leading zeros, which ipaddr.js reads as octal; those and everything else take it.
const PLAIN_IPV4 =
  /^(?:::ffff:)?((?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){2}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/i;

// Some proxies (Azure's, IIS's ARR) append the client's port in X-Forwarded-For.
const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const BRACKETED_IPV6 = /^\[([\da-f:.]+)\](?::\d{1,5})?$/i;

/** The address without a port a proxy may have added: `198.51.100.9:5555`, `[2001:db8::5]:443`. */
function withoutPort(ip: string): string {
  return IPV4_WITH_PORT.exec(ip)?.[1] ?? BRACKETED_IPV6.exec(ip)?.[1] ?? ip;
}

/** The client's network, never its address: IPv4 to /24, IPv6 to /48. */
export function truncateIp(ip: string | undefined): string | undefined {
  if (ip === undefined) return undefined;
  const plain = PLAIN_IPV4.exec(ip);
  if (plain !== null) return `${plain[1]}.0/24`;
  const bare = withoutPort(ip);
  if (bare !== ip) return truncateIp(bare);
  if (!ipaddr.isValid(ip)) return undefined;
  let address = ipaddr.parse(ip);
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress())
    address = address.toIPv4Address();
  const prefix = address.kind() === 'ipv4' ? 24 : 48;
  const network =
    address.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${prefix}`)
      : ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${prefix}`);
  return `${network.toString()}/${prefix}`;
}

/**
 * Who the rate limit counts as one client: an IPv4 address, or an IPv6 /64 (one
 * subscriber's network: counting each of its 2^64 addresses apart would let one client
 * rotate past any limit). What is not an address (junk in a trusted X-Forwarded-For)
 * counts as the peer that sent it.
 */
export function rateLimitKey(ip: string | undefined, peer: string | undefined): string {
  for (const given of [ip, peer]) {
    if (given === undefined) continue;
    const candidate = withoutPort(given);
    const plain = PLAIN_IPV4.exec(candidate);
    if (plain !== null) return candidate.replace(/^::ffff:/i, '');
    if (!ipaddr.isValid(candidate)) continue;
    let address = ipaddr.parse(candidate);
    if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress())
      address = address.toIPv4Address();
    if (address.kind() === 'ipv4') return address.toString();
    return `${ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/64`).toString()}/64`;
  }
  return 'unknown';
}
