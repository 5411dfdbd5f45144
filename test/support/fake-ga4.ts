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
 * `runReport`, speaking their wire formats on loopback: the JWT-bearer grant (a form
 * post; the assertion's RS256 signature is checked against the key pair generated here,
 * with its issuer, audience, scope and lifetime), bearer tokens that expire,
 * runReport's request (JSON, unknown fields refused as proto3 JSON does, the filter's
 * shape, a date range that does not end before it starts) and response shapes
 * (dimension and metric values as strings, dates as YYYYMMDD, proto3 JSON omitting
 * defaults, rowCount, limit/offset paging, metadata.timeZone), and Google's error body
 * `{"error": {"code", "message", "status"}}`. It is as strict as Google where the
 * client could get it wrong: a client mistake must fail a test here.
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
  /** runReport calls whose client hung up before the answer. */
  abandonedRunReports = 0;
  /**
   * Reports to send cut short, one per call: the 200's headers and half its body, then
   * the connection reset, or then nothing for 10 s (a stall).
   */
  readonly cutShort: ('reset' | 'stall')[] = [];
  /** When set, runReport answers 200 with this body instead of a report. */
  runReportAnswer: unknown;
  /** When set, the token endpoint answers 200 with this body instead of a token. */
  tokenAnswer: unknown;
  /** How long an access token from the token endpoint lasts (Google: an hour). */
  tokenLifetimeS = 3599;
  /** The claims of the last self-signed JWT presented, for assertions. */
  selfSignedClaims: Record<string, unknown> | undefined;
  keyFile = '';
  private server!: Server;
  /** Access tokens handed out, with when each expires (ms). */
  private readonly tokens = new Map<string, number>();
  private publicKey: KeyObject;
  private privateKeyPem: string;
  private keyId = 'test-key-1';

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.publicKey = publicKey;
    this.privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  /**
   * A key rotation as an operator does it: a new key written over the key file, the old
   * key deleted (its signatures refused) and the tokens issued for it revoked.
   */
  rotateKey(): void {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.publicKey = publicKey;
    this.privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    this.keyId = `test-key-${Number(this.keyId.split('-').at(-1)) + 1}`;
    this.tokens.clear();
    this.writeKeyFile();
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.keyFile = join(mkdtempSync(join(tmpdir(), 'fake-ga4-')), 'service-account.json');
    this.writeKeyFile();
    return this;
  }

  private writeKeyFile(): void {
    writeFileSync(
      this.keyFile,
      JSON.stringify({
        type: 'service_account',
        project_id: 'test-project',
        private_key_id: this.keyId,
        private_key: this.privateKeyPem,
        client_email: this.clientEmail,
        client_id: '1234567890',
        auth_uri: 'https://accounts.google.com/o/oauth2/auth',
        token_uri: `${this.url}/token`,
      }),
    );
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
      head.kid === this.keyId &&
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
    this.runReportAnswer = undefined;
    this.tokenLifetimeS = 3599;
    this.cutShort.length = 0;
  }

  get runReportCalls() {
    return this.calls.filter((call) => call.path.endsWith(':runReport'));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    const path = req.url ?? '';
    if (req.method === 'POST' && path === '/token') return this.token(req, text, res);
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

  private token(req: IncomingMessage, text: string, res: ServerResponse): void {
    this.calls.push({ path: '/token', body: {} });
    if (this.tokenAnswer !== undefined) return json(res, 200, this.tokenAnswer);
    if (!isContentType(req, 'application/x-www-form-urlencoded')) {
      return oauthError(res, 'invalid_request', 'Content-Type must be a form');
    }
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
    this.tokens.set(token, Date.now() + this.tokenLifetimeS * 1000);
    json(res, 200, { access_token: token, expires_in: this.tokenLifetimeS, token_type: 'Bearer' });
  }

  private async runReport(req: IncomingMessage, text: string, res: ServerResponse): Promise<void> {
    const [scheme, token = ''] = (req.headers.authorization ?? '').split(' ');
    let body: Record<string, unknown>;
    try {
      if (!isContentType(req, 'application/json')) throw new Error('not JSON');
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    this.calls.push({ path: req.url ?? '', body });
    res.once('close', () => {
      if (!res.writableFinished) this.abandonedRunReports++;
    });
    const live = (this.tokens.get(token) ?? 0) > Date.now();
    if (scheme !== 'Bearer' || (!live && !this.isSelfSignedJwt(token))) {
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
    if (this.runReportAnswer !== undefined) return json(res, 200, this.runReportAnswer);
    const [range] = body.dateRanges as { startDate: string; endDate: string }[];
    const inList = (
      body.dimensionFilter as
        { filter?: { inListFilter?: { values?: string[]; caseSensitive?: boolean } } } | undefined
    )?.filter?.inListFilter;
    // As GA4: an inListFilter matches regardless of case unless caseSensitive is set.
    const fold = (name: string) => (inList?.caseSensitive === true ? name : name.toLowerCase());
    const names = inList?.values?.map(fold);
    const matching = this.rows
      .filter((row) => row.date >= range.startDate && row.date <= range.endDate && row.count !== 0)
      .filter((row) => names === undefined || names.includes(fold(row.eventName)))
      .sort((a, b) => a.date.localeCompare(b.date) || a.eventName.localeCompare(b.eventName));
    // Without orderBys GA4's order is unspecified, so pages need not line up: here each
    // call starts at another row.
    if (body.orderBys === undefined && matching.length > 0)
      matching.push(...matching.splice(0, this.runReportCalls.length % matching.length));
    const offset = Number(body.offset ?? 0);
    const limit = Number(body.limit ?? 10_000);
    const page = matching.slice(offset, offset + limit);
    const rowCount = this.rowCount ?? matching.length;
    const answer = cutShortAnswer(res, this.cutShort.shift()) ?? json;
    answer(res, 200, {
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

/** RunReportRequest's fields (proto3 JSON also takes the proto's own snake_case names). */
const RUN_REPORT_FIELDS = new Set([
  'property',
  'dimensions',
  'metrics',
  'dateRanges',
  'dimensionFilter',
  'metricFilter',
  'offset',
  'limit',
  'metricAggregations',
  'orderBys',
  'currencyCode',
  'cohortSpec',
  'keepEmptyRows',
  'returnPropertyQuota',
  'comparisons',
]);
const FILTER_FIELDS = new Set([
  'fieldName',
  'stringFilter',
  'inListFilter',
  'numericFilter',
  'betweenFilter',
  'emptyFilter',
]);
const ORDER_BYS = [
  { dimension: { dimensionName: 'date' } },
  { dimension: { dimensionName: 'eventName' } },
];

/**
 * What the real API refuses in the requests this service sends (and, where it would be
 * no use to a fake, what this one does not implement: other dimensions, metrics,
 * filters and orders than the service asks for).
 */
function requestProblem(body: Record<string, unknown>): string | undefined {
  const unknown = Object.keys(body).find((field) => !RUN_REPORT_FIELDS.has(snakeToCamel(field)));
  if (unknown !== undefined)
    return `Invalid JSON payload received. Unknown name "${unknown}": Cannot find field.`;
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
  if (range.startDate! > range.endDate!)
    return `Invalid dateRange: startDate ${range.startDate} cannot be after endDate ${range.endDate}.`;
  const dimensions = JSON.stringify(body.dimensions);
  if (dimensions !== JSON.stringify([{ name: 'date' }, { name: 'eventName' }])) {
    return `Unexpected dimensions ${dimensions}`;
  }
  if (JSON.stringify(body.metrics) !== JSON.stringify([{ name: 'eventCount' }])) {
    return `Unexpected metrics ${JSON.stringify(body.metrics)}`;
  }
  if (body.orderBys !== undefined && JSON.stringify(body.orderBys) !== JSON.stringify(ORDER_BYS))
    return `Unexpected orderBys ${JSON.stringify(body.orderBys)}`;
  const filterProblem = dimensionFilterProblem(body.dimensionFilter);
  if (filterProblem !== undefined) return filterProblem;
  const limit = Number(body.limit);
  if (body.limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 250_000)) {
    return 'limit must be between 1 and 250000.';
  }
  const offset = Number(body.offset);
  if (body.offset !== undefined && (!Number.isInteger(offset) || offset < 0)) {
    return 'offset must be a non-negative integer.';
  }
  return undefined;
}

/** An eventName inListFilter, as proto3 JSON reads it (unknown names refused). */
function dimensionFilterProblem(dimensionFilter: unknown): string | undefined {
  if (dimensionFilter === undefined) return undefined;
  const { filter, ...rest } = dimensionFilter as { filter?: Record<string, unknown> };
  const unknown = [
    ...Object.keys(rest),
    ...Object.keys(filter ?? {}).filter((field) => !FILTER_FIELDS.has(snakeToCamel(field))),
  ];
  if (unknown.length > 0)
    return `Invalid JSON payload received. Unknown name "${unknown[0]}": Cannot find field.`;
  const inList = filter?.inListFilter as { values?: unknown; caseSensitive?: unknown } | undefined;
  const values = inList?.values;
  if (
    filter?.fieldName !== 'eventName' ||
    !Array.isArray(values) ||
    values.length === 0 ||
    !values.every((value) => typeof value === 'string') ||
    Object.keys(inList ?? {}).some((field) => field !== 'values' && field !== 'caseSensitive')
  ) {
    return `Unexpected dimensionFilter ${JSON.stringify(dimensionFilter)}`;
  }
  return undefined;
}

function snakeToCamel(name: string): string {
  return name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function isContentType(req: IncomingMessage, type: string): boolean {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === type;
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

/** An answer that breaks off halfway through its body, in the given way; undefined: none. */
function cutShortAnswer(res: ServerResponse, how: 'reset' | 'stall' | undefined) {
  if (how === undefined) return undefined;
  return (_res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=UTF-8',
      'Content-Length': String(Buffer.byteLength(text)),
    });
    res.write(text.slice(0, text.length >> 1));
    setTimeout(() => res.destroy(), how === 'reset' ? 20 : 10_000).unref();
  };
}

function googleError(res: ServerResponse, code: number, status: string, message: string): void {
  json(res, code, { error: { code, message, status } });
}

function oauthError(res: ServerResponse, error: string, description: string): void {
  json(res, 400, { error, error_description: description });
}
