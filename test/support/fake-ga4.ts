import { KeyObject, generateKeyPairSync, randomUUID, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeGa4Row {
  /** `YYYY-MM-DD`; sent as GA4 does, `YYYYMMDD`. */
  date: string;
  eventName: string;
  /** Sent as GA4 does, as a string; a string here is sent as it is (a malformed answer). */
  count: number | string;
}

type Failure = { status: number; grpcStatus: string; message: string; retryAfter?: number };

const SCOPE = 'https://www.googleapis.com/auth/analytics.readonly';

/**
 * A local stand-in for Google's OAuth token endpoint and the GA4 Data API v1beta
 * `runReport`, speaking their wire formats on loopback: the JWT-bearer grant (the
 * assertion's RS256 signature is checked against the key pair generated here, with its
 * issuer, audience, scope and lifetime), bearer tokens, runReport's request and
 * response shapes (dimension and metric values as strings, dates as YYYYMMDD, proto3
 * JSON omitting defaults, rowCount, limit/offset paging, metadata.timeZone), and
 * Google's error body `{"error": {"code", "message", "status"}}`.
 */
export class FakeGa4 {
  readonly propertyId = '123456789';
  readonly clientEmail = 'reconciler@test-project.iam.gserviceaccount.com';
  /** Requests received, for assertions. */
  readonly calls: { path: string; body: Record<string, unknown> }[] = [];
  timeZone = 'UTC';
  rows: FakeGa4Row[] = [];
  metadata: Record<string, unknown> = {};
  /** When set, runReport answers this as rowCount instead of the number of matching rows. */
  rowCount: unknown;
  /** Failures to answer runReport with, one per call, before answering normally. */
  readonly failures: Failure[] = [];
  /** When set, runReport waits this long before answering. */
  delayMs = 0;
  /** When set, the token endpoint answers 200 with this body instead of a token. */
  tokenAnswer: unknown;
  /** The claims of the last self-signed JWT presented, for assertions. */
  selfSignedClaims: Record<string, unknown> | undefined;
  keyFile = '';
  private server!: Server;
  private readonly tokens = new Set<string>();
  private readonly publicKey: KeyObject;
  private readonly privateKeyPem: string;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.publicKey = publicKey;
    this.privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'fake-ga4-'));
    this.keyFile = join(dir, 'service-account.json');
    writeFileSync(
      this.keyFile,
      JSON.stringify({
        type: 'service_account',
        project_id: 'test-project',
        private_key_id: 'test-key-1',
        private_key: this.privateKeyPem,
        client_email: this.clientEmail,
        client_id: '1234567890',
        auth_uri: 'https://accounts.google.com/o/oauth2/auth',
        token_uri: `${this.url}/token`,
      }),
    );
    return this;
  }

  /** A copy of the key file without token_uri: the client then signs its own JWT (AIP-4111). */
  selfSignedKeyFile(): string {
    const key = JSON.parse(readFileSync(this.keyFile, 'utf8')) as Record<string, unknown>;
    delete key.token_uri;
    const file = join(mkdtempSync(join(tmpdir(), 'fake-ga4-')), 'self-signed-key.json');
    writeFileSync(file, JSON.stringify(key));
    return file;
  }

  /**
   * What Google accepts as a self-signed JWT for the Data API: RS256 by the account's key
   * (its kid), iss = sub = the account, aud the API's (or a scope instead), at most an hour.
   */
  private isSelfSignedJwt(token: string): boolean {
    const [header, claims, signature] = token.split('.');
    if (!header || !claims || !signature) return false;
    const signed = verify(
      'RSA-SHA256',
      Buffer.from(`${header}.${claims}`),
      this.publicKey,
      Buffer.from(signature, 'base64url'),
    );
    let head: Record<string, unknown>;
    let body: Record<string, unknown>;
    try {
      head = JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>;
      body = JSON.parse(Buffer.from(claims, 'base64url').toString()) as Record<string, unknown>;
    } catch {
      return false;
    }
    const now = Math.floor(Date.now() / 1000);
    this.selfSignedClaims = body;
    return (
      signed &&
      head.alg === 'RS256' &&
      head.kid === 'test-key-1' &&
      body.iss === this.clientEmail &&
      body.sub === this.clientEmail &&
      (body.aud === 'https://analyticsdata.googleapis.com/') !== (body.scope === SCOPE) &&
      typeof body.exp === 'number' &&
      typeof body.iat === 'number' &&
      body.exp > now &&
      body.exp - body.iat <= 3600
    );
  }

  /** A copy of the key file with another private key: the token endpoint refuses its signature. */
  foreignKeyFile(): string {
    const key = JSON.parse(readFileSync(this.keyFile, 'utf8')) as Record<string, unknown>;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    key.private_key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const file = join(mkdtempSync(join(tmpdir(), 'fake-ga4-')), 'foreign-key.json');
    writeFileSync(file, JSON.stringify(key));
    return file;
  }

  /** The environment that points the service at this fake. */
  env(): Record<string, string> {
    return {
      GA4_PROPERTY_ID: this.propertyId,
      GA4_CREDENTIALS_FILE: this.keyFile,
      GA4_API_URL: this.url,
    };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  reset(): void {
    this.calls.length = 0;
    this.failures.length = 0;
    this.rows = [];
    this.metadata = {};
    this.rowCount = undefined;
    this.timeZone = 'UTC';
    this.delayMs = 0;
    this.tokenAnswer = undefined;
  }

  get runReportCalls() {
    return this.calls.filter((call) => call.path.endsWith(':runReport'));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    const path = req.url ?? '';
    if (req.method === 'POST' && path === '/token') return this.token(text, res);
    if (req.method === 'POST' && path === `/v1beta/properties/${this.propertyId}:runReport`) {
      return this.runReport(req, text, res);
    }
    if (req.method === 'POST' && /^\/v1beta\/properties\/[^/]+:runReport$/.test(path)) {
      return googleError(
        res,
        403,
        'PERMISSION_DENIED',
        'User does not have sufficient permissions for this property.',
      );
    }
    googleError(res, 404, 'NOT_FOUND', `Method not found: ${path}`);
  }

  private token(text: string, res: ServerResponse): void {
    this.calls.push({ path: '/token', body: {} });
    if (this.tokenAnswer !== undefined) return json(res, 200, this.tokenAnswer);
    const form = new URLSearchParams(text);
    const assertion = form.get('assertion') ?? '';
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return oauthError(res, 'unsupported_grant_type', 'Invalid grant_type');
    }
    const [header, claims, signature] = assertion.split('.');
    const signed = verify(
      'RSA-SHA256',
      Buffer.from(`${header}.${claims}`),
      this.publicKey,
      Buffer.from(signature ?? '', 'base64url'),
    );
    if (!signed) return oauthError(res, 'invalid_grant', 'Invalid JWT Signature.');
    const body = JSON.parse(Buffer.from(claims, 'base64url').toString()) as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    if (
      body.iss !== this.clientEmail ||
      body.aud !== `${this.url}/token` ||
      body.scope !== SCOPE ||
      typeof body.exp !== 'number' ||
      typeof body.iat !== 'number' ||
      body.exp <= now ||
      body.exp - body.iat > 3600
    ) {
      return oauthError(
        res,
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.',
      );
    }
    const token = `ya29.${randomUUID()}`;
    this.tokens.add(token);
    json(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
  }

  private async runReport(req: IncomingMessage, text: string, res: ServerResponse): Promise<void> {
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    this.calls.push({ path: req.url ?? '', body });
    if (!this.tokens.has(token) && !this.isSelfSignedJwt(token)) {
      return googleError(
        res,
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token.',
      );
    }
    const failure = this.failures.shift();
    if (failure) {
      if (failure.retryAfter !== undefined)
        res.setHeader('Retry-After', String(failure.retryAfter));
      return googleError(res, failure.status, failure.grpcStatus, failure.message);
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const problem = requestProblem(body);
    if (problem) return googleError(res, 400, 'INVALID_ARGUMENT', problem);
    const [range] = body.dateRanges as { startDate: string; endDate: string }[];
    const names = (
      body.dimensionFilter as { filter?: { inListFilter?: { values?: string[] } } } | undefined
    )?.filter?.inListFilter?.values;
    const matching = this.rows
      .filter((row) => row.date >= range.startDate && row.date <= range.endDate && row.count !== 0)
      .filter((row) => names === undefined || names.includes(row.eventName))
      .sort((a, b) => a.date.localeCompare(b.date) || a.eventName.localeCompare(b.eventName));
    const offset = Number(body.offset ?? 0);
    const limit = Number(body.limit ?? 10_000);
    const page = matching.slice(offset, offset + limit);
    const rowCount = this.rowCount ?? matching.length;
    json(res, 200, {
      dimensionHeaders: [{ name: 'date' }, { name: 'eventName' }],
      metricHeaders: [{ name: 'eventCount', type: 'TYPE_INTEGER' }],
      ...(page.length > 0
        ? {
            rows: page.map((row) => ({
              dimensionValues: [{ value: row.date.replaceAll('-', '') }, { value: row.eventName }],
              metricValues: [{ value: String(row.count) }],
            })),
          }
        : {}),
      ...(rowCount !== 0 ? { rowCount } : {}),
      metadata: { currencyCode: 'USD', timeZone: this.timeZone, ...this.metadata },
      kind: 'analyticsData#runReport',
    });
  }
}

/** What the real API refuses in the requests this service sends. */
function requestProblem(body: Record<string, unknown>): string | undefined {
  const ranges = body.dateRanges as { startDate?: string; endDate?: string }[] | undefined;
  if (!Array.isArray(ranges) || ranges.length !== 1)
    return 'Exactly one dateRange is expected here.';
  const [range] = ranges;
  if (
    !/^\d{4}-\d{2}-\d{2}$/.test(range.startDate ?? '') ||
    !/^\d{4}-\d{2}-\d{2}$/.test(range.endDate ?? '')
  ) {
    return 'Invalid dateRange: dates must be YYYY-MM-DD.';
  }
  const dimensions = JSON.stringify(body.dimensions);
  if (dimensions !== JSON.stringify([{ name: 'date' }, { name: 'eventName' }])) {
    return `Unexpected dimensions ${dimensions}`;
  }
  if (JSON.stringify(body.metrics) !== JSON.stringify([{ name: 'eventCount' }])) {
    return `Unexpected metrics ${JSON.stringify(body.metrics)}`;
  }
  const limit = Number(body.limit);
  if (body.limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 250_000)) {
    return 'limit must be between 1 and 250000.';
  }
  return undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

function googleError(res: ServerResponse, code: number, status: string, message: string): void {
  json(res, code, { error: { code, message, status } });
}

function oauthError(res: ServerResponse, error: string, description: string): void {
  json(res, 400, { error, error_description: description });
}
