import { sign } from 'node:crypto';
import { ServiceAccount } from './service-account';
import { Ga4HttpOptions, ga4Fetch } from './ga4-http';
import { Ga4UnavailableError } from './ga4.errors';

export const ANALYTICS_READONLY_SCOPE = 'https://www.googleapis.com/auth/analytics.readonly';
/** A token is renewed this long before it expires, so no request carries one about to lapse. */
const RENEW_BEFORE_EXPIRY_MS = 60_000;
const ASSERTION_LIFETIME_S = 3_600;

/**
 * OAuth 2.0 access tokens for a service account by the JWT bearer grant (RFC 7523), as
 * Google documents it: an RS256-signed assertion posted to the key file's `token_uri`.
 * One token is cached and shared until shortly before it expires; concurrent callers
 * wait for the same exchange.
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
    this.pending ??= this.exchange(signal).finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Forgets the token (GA4 said it is no longer valid). */
  invalidate(): void {
    this.cached = undefined;
  }

  private async exchange(signal?: AbortSignal): Promise<string> {
    const body = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: this.assertion(),
    });
    const response = await ga4Fetch(this.account.tokenUri, this.http, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      signal,
    });
    const json = response as { access_token?: unknown; expires_in?: unknown };
    if (typeof json.access_token !== 'string') {
      throw new Ga4UnavailableError('the token endpoint answered without an access_token');
    }
    const expiresIn = typeof json.expires_in === 'number' ? json.expires_in : ASSERTION_LIFETIME_S;
    this.cached = { token: json.access_token, expiresAt: this.now() + expiresIn * 1000 };
    return json.access_token;
  }

  private assertion(): string {
    const issuedAt = Math.floor(this.now() / 1000);
    const header = {
      alg: 'RS256',
      typ: 'JWT',
      ...(this.account.privateKeyId ? { kid: this.account.privateKeyId } : {}),
    };
    const claims = {
      iss: this.account.clientEmail,
      scope: ANALYTICS_READONLY_SCOPE,
      aud: this.account.tokenUri,
      iat: issuedAt,
      exp: issuedAt + ASSERTION_LIFETIME_S,
    };
    const unsigned = `${base64url(header)}.${base64url(claims)}`;
    const signature = sign('RSA-SHA256', Buffer.from(unsigned), this.account.privateKey);
    return `${unsigned}.${signature.toString('base64url')}`;
  }
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
