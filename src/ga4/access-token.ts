import { sign } from 'node:crypto';
import { ServiceAccount } from './service-account';
import { Ga4HttpOptions, ga4Fetch, unlessStopped } from './ga4-http';
import { Ga4UnavailableError } from './ga4.errors';

export const ANALYTICS_READONLY_SCOPE = 'https://www.googleapis.com/auth/analytics.readonly';
/**
 * A self-signed JWT names the API it is for, as Google's libraries do for the Data API; it
 * stays Google's when GA4_API_URL points at a proxy, since Google checks it.
 */
export const ANALYTICS_DATA_AUDIENCE = 'https://analyticsdata.googleapis.com/';
/** A token is renewed this long before it expires, so no request carries one about to lapse. */
const RENEW_BEFORE_EXPIRY_MS = 60_000;
const ASSERTION_LIFETIME_S = 3_600;

/**
 * Bearer tokens for a service account, as Google documents them: with a `token_uri` in
 * the key file, an OAuth 2.0 access token by the JWT bearer grant (RFC 7523: an
 * RS256-signed assertion posted there); without one, a self-signed JWT for the Data API
 * (AIP-4111), no exchange needed. One token is cached and shared until shortly before it
 * expires; concurrent callers wait for the same exchange.
 */
export class AccessTokenSource {
  private cached: { token: string; expiresAt: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly account: ServiceAccount,
    private readonly http: Ga4HttpOptions,
    private readonly now: () => number = Date.now,
  ) {}

  async token(signal?: AbortSignal): Promise<string> {
    if (this.cached && this.cached.expiresAt - RENEW_BEFORE_EXPIRY_MS > this.now()) {
      return this.cached.token;
    }
    // One exchange for all callers, bound to none of them: each stops waiting on its own signal.
    this.pending ??= this.exchange().finally(() => (this.pending = undefined));
    return unlessStopped(this.pending, signal);
  }

  /** Forgets the token (GA4 said it is no longer valid). */
  invalidate(): void {
    this.cached = undefined;
  }

  private async exchange(): Promise<string> {
    const tokenUri = this.account.tokenUri;
    if (tokenUri === undefined) {
      const jwt = this.signed({ sub: this.account.clientEmail, aud: ANALYTICS_DATA_AUDIENCE });
      this.cached = { token: jwt, expiresAt: this.now() + ASSERTION_LIFETIME_S * 1000 };
      return jwt;
    }
    const body = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: this.signed({ scope: ANALYTICS_READONLY_SCOPE, aud: tokenUri }),
    });
    const response = await ga4Fetch(tokenUri, this.http, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    });
    const json = response as { access_token?: unknown; expires_in?: unknown };
    if (typeof json.access_token !== 'string') {
      throw new Ga4UnavailableError('the token endpoint answered without an access_token');
    }
    const expiresIn = typeof json.expires_in === 'number' ? json.expires_in : ASSERTION_LIFETIME_S;
    this.cached = { token: json.access_token, expiresAt: this.now() + expiresIn * 1000 };
    return json.access_token;
  }

  /** An RS256 JWT from the service account, valid for an hour, with `claims` besides iss, iat and exp. */
  private signed(claims: Record<string, string>): string {
    const issuedAt = Math.floor(this.now() / 1000);
    const header = {
      alg: 'RS256',
      typ: 'JWT',
      ...(this.account.privateKeyId ? { kid: this.account.privateKeyId } : {}),
    };
    const payload = {
      iss: this.account.clientEmail,
      ...claims,
      iat: issuedAt,
      exp: issuedAt + ASSERTION_LIFETIME_S,
    };
    const unsigned = `${base64url(header)}.${base64url(payload)}`;
    const signature = sign('RSA-SHA256', Buffer.from(unsigned), this.account.privateKey);
    return `${unsigned}.${signature.toString('base64url')}`;
  }
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
