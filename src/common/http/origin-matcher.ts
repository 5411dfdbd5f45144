/**
 * CORS allow-list matching. Patterns are exact origins (`https://shop.example.com`)
 * or one leading wildcard label (`https://*.example.com`), which matches any
 * subdomain at any depth but not the apex itself. Comparison is on the parsed,
 * normalised origin, so `https://example.org.evil.com` never matches `https://example.org`.
 */
const PATTERN = /^(https?):\/\/(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*)(:\d{1,5})?$/;

export function isValidOriginPattern(pattern: string): boolean {
  const match = PATTERN.exec(pattern.toLowerCase());
  // A port past 65535 fits the pattern's digits but is no port (URL refuses it).
  return match !== null && Number((match[5] ?? ':0').slice(1)) <= 65_535;
}

export type OriginMatcher = (origin: string) => boolean;

const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443' };

export function createOriginMatcher(patterns: readonly string[]): OriginMatcher {
  const exact = new Set<string>();
  const wildcards: { scheme: string; suffix: string; port: string }[] = [];
  for (const pattern of patterns) {
    const match = PATTERN.exec(pattern.toLowerCase());
    if (!match || !isValidOriginPattern(pattern)) continue;
    const [, scheme, wildcard, host, , port = ''] = match;
    // As browsers write it: no port when it is the scheme's default (`:443` for https).
    const explicitPort = port.slice(1) === DEFAULT_PORTS[scheme] ? '' : port.slice(1);
    if (wildcard) wildcards.push({ scheme, suffix: `.${host}`, port: explicitPort });
    else exact.add(new URL(pattern.toLowerCase()).origin);
  }
  return (origin) => {
    const normalised = normaliseOrigin(origin);
    if (normalised === undefined) return false;
    if (exact.has(normalised)) return true;
    const url = new URL(normalised);
    const scheme = url.protocol.slice(0, -1);
    return wildcards.some(
      (w) => w.scheme === scheme && w.port === url.port && isSubdomain(url.hostname, w.suffix),
    );
  };
}

/** One or more non-empty labels before `suffix` (`.example.com`): `https://.example.com` has none. */
function isSubdomain(hostname: string, suffix: string): boolean {
  if (!hostname.endsWith(suffix)) return false;
  const labels = hostname.slice(0, -suffix.length);
  return labels !== '' && !labels.split('.').includes('');
}

/**
 * The origin when the header is exactly a browser's serialisation of one (lower-case
 * scheme and host, no path, default port omitted); anything else, including `null`
 * and mixed case, is not an origin we can vouch for.
 */
function normaliseOrigin(origin: string): string | undefined {
  if (!/^https?:\/\//.test(origin)) return undefined;
  try {
    const serialised = new URL(origin).origin;
    return serialised === origin ? serialised : undefined;
  } catch {
    return undefined;
  }
}
