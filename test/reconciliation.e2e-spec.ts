import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useAppFixture } from './support/app-fixture';
import { anEvent } from './support/event-factory';
import { apiClient } from './support/api-client';
import type { components } from './support/api-schema';
import { FakeGa4 } from './support/fake-ga4';

const KEY = 'reconcile-key-0123456789';
type Report = components['schemas']['ReconciliationReportDto'];
type ErrorResponse = components['schemas']['ErrorResponseDto'];
const DAY_MS = 86_400_000;
const day = (daysAgo: number) => new Date(Date.now() - daysAgo * DAY_MS).toISOString().slice(0, 10);
/** An instant on `date` (UTC) at `time`. */
const at = (date: string, time: string) => `${date}T${time}Z`;

const fake = new FakeGa4();
beforeAll(() => fake.start());
const UNAVAILABLE = {
  status: 503,
  grpcStatus: 'UNAVAILABLE',
  message: 'The service is currently unavailable.',
};
/** GA4 refuses the first attempt and its one retry (GA4_RETRIES=1 here). */
const failTwice = (failure: (typeof fake.failures)[number]) =>
  fake.failures.push({ ...failure }, { ...failure });
afterAll(() => fake.stop());

describe('GET /v1/events/reconcile without GA4 settings', () => {
  const fixture = useAppFixture({ API_KEYS: KEY });

  it('answers 503 naming the variables to set', async () => {
    const { body } = await fixture
      .http()
      .get('/v1/events/reconcile')
      .set('X-API-Key', KEY)
      .expect(503);
    expect(body.error.code).toBe('ga4_not_configured');
    expect(body.error.message).toContain('GA4_PROPERTY_ID');
    expect(body.error.message).toContain('GA4_CREDENTIALS_FILE');
  });
});

describe('GET /v1/events/reconcile against GA4', () => {
  const fixture = useAppFixture(() => ({
    ...fake.env(),
    API_KEYS: KEY,
    TRACK_MAX_EVENT_AGE_HOURS: String(24 * 30),
    RATE_LIMIT_PER_MINUTE: '100000',
    GA4_EVENT_NAME_MAP: '{"sign_up":"sign_up_completed"}',
    GA4_PAGE_SIZE: '2',
    GA4_TIMEOUT_MS: '400',
    GA4_RETRIES: '1',
  }));
  /** Through the generated client; the answer is checked against openapi.json for its status. */
  const reconcile = async (query: string, status: number) => {
    const result = await apiClient(fixture.app, { 'X-API-Key': KEY }).GET('/v1/events/reconcile', {
      params: { query: Object.fromEntries(new URLSearchParams(query)) },
    });
    expect(result.response.status).toBe(status);
    // One of the two, by status; the tests read whichever they expect.
    const body = (result.data ?? result.error) as Report & ErrorResponse;
    return { body, headers: result.response.headers };
  };
  const track = (overrides: Record<string, unknown>) =>
    fixture
      .http()
      .post('/v1/events/track')
      .send(anEvent({ value: undefined, currency: undefined, ...overrides }))
      .expect(200);

  const d1 = day(8);
  const d2 = day(7);
  const d3 = day(6);

  beforeAll(async () => {
    // 07:30 UTC is still the previous day in Los Angeles (UTC−8 in winter, −7 in summer).
    await track({ event_type: 'purchase', occurred_at: at(d2, '06:30:00') });
    await track({ event_type: 'purchase', occurred_at: at(d2, '12:00:00') });
    await track({ event_type: 'purchase', occurred_at: at(d2, '13:00:00') });
    await track({ event_type: 'sign_up', occurred_at: at(d3, '15:00:00') });
    await track({ event_type: 'page_view', occurred_at: at(d3, '15:00:00') });
    // Bots count on neither side.
    await fixture
      .http()
      .post('/v1/events/track')
      .set('User-Agent', 'Googlebot/2.1 (+http://www.google.com/bot.html)')
      .send(anEvent({ event_type: 'purchase', occurred_at: at(d3, '15:00:00') }))
      .expect(200);
  });
  beforeEach(() => fake.reset());

  it('compares per day of the property and type, with statuses, summary and notes', async () => {
    fake.timeZone = 'America/Los_Angeles';
    fake.rows = [
      { date: d1, eventName: 'purchase', count: 1 },
      { date: d2, eventName: 'purchase', count: 2 },
      { date: d3, eventName: 'sign_up_completed', count: 4 },
      { date: d3, eventName: 'page_view', count: 1 },
    ];
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
    expect(body).toMatchObject({
      start_date: d1,
      end_date: d3,
      time_zone: 'America/Los_Angeles',
      property_id: fake.propertyId,
      status: 'discrepancies',
      thresholds: { warning_pct: 5, critical_pct: 20 },
      summary: { ga4_total: 8, db_total: 5, difference: -3, difference_pct: -37.5 },
      ga4_metadata: {
        subject_to_thresholding: false,
        sampled: false,
        data_loss_from_other_row: false,
      },
    });
    expect(body.rows).toEqual([
      row(d1, 'purchase', 'purchase', 1, 1, 0, 0, 'match'),
      row(d2, 'purchase', 'purchase', 2, 2, 0, 0, 'match'),
      row(d3, 'page_view', 'page_view', 1, 1, 0, 0, 'match'),
      row(d3, 'sign_up', 'sign_up_completed', 4, 1, -3, -75, 'critical'),
    ]);
    expect(body.notes.join(' ')).toContain('GA4 counts more than we do');
    // 3 pages of 2 rows (GA4_PAGE_SIZE=2): 4 rows need 2 pages.
    expect(fake.runReportCalls.map((call) => call.body.offset)).toEqual(['0', '2']);
    expect(fake.runReportCalls[0].body).toMatchObject({
      dateRanges: [{ startDate: d1, endDate: d3 }],
      dimensions: [{ name: 'date' }, { name: 'eventName' }],
      metrics: [{ name: 'eventCount' }],
      dimensionFilter: {
        filter: {
          fieldName: 'eventName',
          inListFilter: {
            values: ['page_view', 'purchase', 'sign_up_completed'],
            caseSensitive: true,
          },
        },
      },
    });
  });

  it('counts our bots too with include_bots=true, and says so in the notes', async () => {
    fake.timeZone = 'UTC';
    fake.rows = [
      { date: d2, eventName: 'purchase', count: 3 },
      { date: d3, eventName: 'purchase', count: 1 },
    ];
    const range = `?start_date=${d2}&end_date=${d3}`;
    const purchases = (body: Report) => body.rows.filter((r) => r.event_type === 'purchase');
    const without = await reconcile(range, 200);
    expect(purchases(without.body)).toEqual([
      row(d2, 'purchase', 'purchase', 3, 3, 0, 0, 'match'),
      row(d3, 'purchase', 'purchase', 1, 0, -1, -100, 'missing_in_db'),
    ]);
    const withBots = await reconcile(`${range}&include_bots=true`, 200);
    expect(purchases(withBots.body)).toEqual([
      row(d2, 'purchase', 'purchase', 3, 3, 0, 0, 'match'),
      row(d3, 'purchase', 'purchase', 1, 1, 0, 0, 'match'),
    ]);
    // On d3 alone only a bot bought: without include_bots, purchase was not stored in the
    // range, so it is not compared (RECONCILE_EVENT_TYPES would list it).
    const botsOnly = await reconcile(`?start_date=${d3}&end_date=${d3}`, 200);
    expect(purchases(botsOnly.body)).toEqual([]);
    expect(withBots.body.notes.join(' ')).toContain('include_bots=true');
    await reconcile(`${range}&include_bots=yes`, 400);
  });

  it('buckets our events in the property time zone, not UTC', async () => {
    fake.timeZone = 'UTC';
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
    // In UTC all three purchases fall on d2 and none on d1.
    expect(body.rows.filter((r: { event_type: string }) => r.event_type === 'purchase')).toEqual([
      row(d2, 'purchase', 'purchase', 0, 3, 3, null, 'missing_in_ga4'),
    ]);
    expect(body.notes.join(' ')).toContain('ad blockers');
  });

  it('compares only the types stored in the property’s days, not those of the margin asked of GA4', async () => {
    // d2's purchases are within the hours asked of GA4 around d1 (its zone unknown until it
    // answers), not on d1 in UTC: without RECONCILE_EVENT_TYPES, purchase is not compared.
    fake.timeZone = 'UTC';
    fake.rows = [{ date: d1, eventName: 'purchase', count: 5 }];
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d1}`, 200);
    expect(body.rows).toEqual([]);
    expect(body.status).toBe('ok');
  });

  it('settles which of two types sharing a GA4 name is compared among those stored in the property’s days', async () => {
    // sign_up is mapped onto sign_up_completed, another type's own name. On the day only
    // sign_up_completed was stored; sign_up only in the hours asked of GA4 around it.
    const d = day(12);
    await track({ event_type: 'sign_up_completed', occurred_at: at(d, '12:00:00') });
    await track({ event_type: 'sign_up', occurred_at: at(day(11), '06:00:00') });
    fake.timeZone = 'UTC';
    fake.rows = [{ date: d, eventName: 'sign_up_completed', count: 3 }];
    const { body } = await reconcile(`?start_date=${d}&end_date=${d}`, 200);
    expect(body.rows).toEqual([
      row(d, 'sign_up_completed', 'sign_up_completed', 3, 1, -2, -66.67, 'critical'),
    ]);
    expect(body.notes.join(' ')).not.toContain('is not compared');
  });

  it('marks days within the last 48 hours provisional and says so', async () => {
    fake.rows = [{ date: day(1), eventName: 'purchase', count: 5 }];
    const { body } = await reconcile(`?start_date=${d1}&end_date=${day(1)}`, 200);
    expect(body.rows).toContainEqual(
      row(day(1), 'purchase', 'purchase', 5, 0, -5, -100, 'missing_in_db', true),
    );
    expect(body.rows.filter((r: { provisional: boolean }) => r.provisional)).toHaveLength(1);
    expect(body.notes[0]).toContain('provisional');
  });

  it('passes GA4 thresholding and sampling flags on, with notes', async () => {
    fake.metadata = {
      subjectToThresholding: true,
      samplingMetadatas: [{ samplesReadCount: '10' }],
    };
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
    expect(body.ga4_metadata).toEqual({
      subject_to_thresholding: true,
      sampled: true,
      data_loss_from_other_row: false,
    });
    expect(body.notes.join(' ')).toMatch(/thresholding.*sampled/s);
  });

  it('passes GA4 refusals on as 502 with its status and message', async () => {
    fake.failures.push({
      status: 403,
      grpcStatus: 'PERMISSION_DENIED',
      message: 'User does not have sufficient permissions for this property.',
    });
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error.code).toBe('ga4_error');
    expect(body.error.message).toContain('PERMISSION_DENIED');
    expect(body.error.message).toContain('User does not have sufficient permissions');
  });

  it('answers 502 when GA4 keeps refusing the credentials (401)', async () => {
    failTwice({
      status: 401,
      grpcStatus: 'UNAUTHENTICATED',
      message: 'Request had invalid authentication credentials.',
    });
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error.message).toContain('UNAUTHENTICATED');
  });

  it('passes an exhausted quota on as 429 with Retry-After', async () => {
    fake.failures.push({
      status: 429,
      grpcStatus: 'RESOURCE_EXHAUSTED',
      message: 'Exhausted property tokens per hour.',
      retryAfter: 30,
    });
    const response = await reconcile(`?start_date=${d1}&end_date=${d3}`, 429);
    expect(response.headers.get('retry-after')).toBe('30');
    expect(response.body.error.code).toBe('ga4_rate_limited');
  });

  it('asks for its event names as they are spelt: GA4’s Purchase is not our purchase', async () => {
    fake.rows = [
      { date: d2, eventName: 'purchase', count: 2 },
      { date: d2, eventName: 'Purchase', count: 5 },
      { date: d3, eventName: 'PURCHASE', count: 9 },
    ];
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
    expect(body.summary.ga4_total).toBe(2);
    // One page of GA4_PAGE_SIZE=2: the other spellings were never sent.
    expect(fake.runReportCalls).toHaveLength(1);
  });

  it('waits as long as GA4’s Retry-After asks before trying again', async () => {
    fake.failures.push({
      status: 429,
      grpcStatus: 'RESOURCE_EXHAUSTED',
      message: 'Exhausted concurrent requests.',
      retryAfter: 1,
    });
    const started = Date.now();
    await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(fake.runReportCalls).toHaveLength(2);
  });

  it.each([
    ['rows that are not a list', { rows: {}, metadata: { timeZone: 'UTC' } }],
    ['a row that is null', { rows: [null], metadata: { timeZone: 'UTC' } }],
    ['a dimension that is null', { rows: [{ dimensionValues: [null, null] }] }],
    ['no time zone', { rows: [], metadata: {} }],
    ['no metadata', {}],
  ])('answers 502, not 500, when GA4 answers %s', async (_, answer) => {
    fake.runReportAnswer = answer;
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error.code).toBe('ga4_unavailable');
  });

  it('answers 502 when GA4 answers one day and name twice, rather than adding them up', async () => {
    fake.rows = [
      { date: d2, eventName: 'purchase', count: 3 },
      { date: d2, eventName: 'purchase', count: 3 },
    ];
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error.message).toBe(
      `GA4 is unavailable: runReport answered ${d2} "purchase" twice: the report changed while it was read page by page; asking again may help`,
    );
  });

  it('answers 502 naming the zone when GA4’s time zone is one PostgreSQL does not know', async () => {
    // Still in Node's time zone data, gone from PostgreSQL's.
    fake.timeZone = 'US/Pacific-New';
    fake.rows = [{ date: d2, eventName: 'purchase', count: 3 }];
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error.code).toBe('ga4_unavailable');
    expect(body.error.message).toContain('"US/Pacific-New"');
  });

  it('asks GA4 for one row, only for its time zone, when there is no event type to compare', async () => {
    fake.rows = [{ date: day(200), eventName: 'purchase', count: 3 }];
    fake.timeZone = 'Europe/Paris';
    const { body } = await reconcile(`?start_date=${day(201)}&end_date=${day(199)}`, 200);
    expect(body).toMatchObject({ time_zone: 'Europe/Paris', rows: [] });
    expect(fake.runReportCalls.map((call) => [call.body.limit, call.body.dimensionFilter])).toEqual(
      [['1', undefined]],
    );
  });

  it('starts a default range no earlier than 1970-01-01', async () => {
    const { body } = await reconcile('?end_date=1970-01-03', 200);
    expect(body.start_date).toBe('1970-01-01');
    expect(fake.runReportCalls[0].body.dateRanges).toEqual([
      { startDate: '1970-01-01', endDate: '1970-01-03' },
    ]);
  });

  it('retries a 503 and answers when GA4 recovers', async () => {
    fake.failures.push(UNAVAILABLE);
    fake.rows = [{ date: d2, eventName: 'purchase', count: 2 }];
    await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
    expect(fake.runReportCalls).toHaveLength(2);
  });

  it('passes a lasting 503 on as 502 with its status and message', async () => {
    failTwice(UNAVAILABLE);
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error.code).toBe('ga4_unavailable');
    expect(body.error.message).toContain('503 UNAVAILABLE: The service is currently unavailable.');
  });

  it('answers 502 naming the zone when GA4 reports a time zone that is not IANA', async () => {
    fake.timeZone = 'Mars/Olympus';
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error).toMatchObject({
      code: 'ga4_unavailable',
      message:
        'GA4 is unavailable: runReport answered metadata.timeZone "Mars/Olympus", which is not an IANA time zone',
    });
  });

  it.each(['abc', '-5', '1.5', ''])(
    'answers 502 when GA4 reports an event count of %j, rather than a report with no count',
    async (count) => {
      fake.rows = [{ date: d1, eventName: 'purchase', count }];
      const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
      expect(body.error).toMatchObject({
        code: 'ga4_unavailable',
        message: `GA4 is unavailable: runReport answered eventCount ${JSON.stringify(count)}, which is not an event count`,
      });
    },
  );

  it.each([
    ['a string', '4'],
    ['negative', -1],
    ['not an integer', 2.5],
    ['absurdly large', 1e12],
  ])('answers 502 after one request when rowCount is %s', async (_, rowCount) => {
    fake.rows = [
      { date: d1, eventName: 'purchase', count: 1 },
      { date: d2, eventName: 'purchase', count: 2 },
      { date: d3, eventName: 'page_view', count: 1 },
      { date: d3, eventName: 'sign_up_completed', count: 4 },
    ];
    fake.rowCount = rowCount;
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error).toMatchObject({
      code: 'ga4_unavailable',
      message: `GA4 is unavailable: runReport answered rowCount ${JSON.stringify(rowCount)}, which is not a row count`,
    });
    expect(fake.runReportCalls).toHaveLength(1);
  });

  it('answers 502 when a page has no rows while rowCount says more remain', async () => {
    fake.rows = [
      { date: d2, eventName: 'purchase', count: 2 },
      { date: d3, eventName: 'page_view', count: 1 },
    ];
    fake.rowCount = 10;
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error.message).toBe(
      'GA4 is unavailable: runReport answered no rows at offset 2 although rowCount is 10',
    );
    expect(fake.runReportCalls.map((call) => call.body.offset)).toEqual(['0', '2']);
  });

  it('gives up after 100 pages, saying a larger GA4_PAGE_SIZE needs fewer', async () => {
    // 201 rows at GA4_PAGE_SIZE=2 take 101 pages.
    const names = ['page_view', 'purchase', 'sign_up_completed'];
    fake.rows = Array.from({ length: 201 }, (_, i) => ({
      date: day(10 + Math.floor(i / 3)),
      eventName: names[i % 3],
      count: 1,
    }));
    const { body } = await reconcile(`?start_date=${day(76)}&end_date=${d3}`, 502);
    expect(body.error.message).toBe(
      'GA4 is unavailable: runReport still had rows after 100 pages (read 200 of rowCount 201); a larger GA4_PAGE_SIZE needs fewer pages',
    );
    expect(fake.runReportCalls).toHaveLength(100);
  });

  it('answers 502 within a bounded time when GA4 does not answer', async () => {
    fake.delayMs = 3_000;
    const started = Date.now();
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error.code).toBe('ga4_unavailable');
    // 2 attempts of 400 ms and one backoff of 250 ms.
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('tries again when an answer breaks off halfway through its body, reset or stalled', async () => {
    fake.rows = [{ date: d2, eventName: 'purchase', count: 3 }];
    for (const how of ['reset', 'stall'] as const) {
      fake.calls.length = 0;
      fake.cutShort.push(how);
      const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
      expect(body.summary.ga4_total).toBe(3);
      expect(fake.runReportCalls).toHaveLength(2);
    }
    fake.cutShort.push('reset', 'reset');
    const { body } = await reconcile(`?start_date=${d1}&end_date=${d3}`, 502);
    expect(body.error).toMatchObject({ code: 'ga4_unavailable' });
    expect(body.error.message).toContain('GA4 is unavailable: the answer was cut short');
  });

  it('uses a rotated key from the next attempt on, without a restart', async () => {
    await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
    fake.rotateKey();
    await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
  });

  it('exchanges the signed JWT for a token once and reuses it until it nears expiry', async () => {
    await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
    await reconcile(`?start_date=${d1}&end_date=${d3}`, 200);
    expect(fake.calls.filter((call) => call.path === '/token').length).toBeLessThanOrEqual(1);
    expect(fake.runReportCalls).toHaveLength(2);
  });

  it('defaults to the 7 days ending the property’s yesterday, in its zone, not REPORT_TIMEZONE’s', async () => {
    // At any hour of the day, one of these two is on another date than UTC (REPORT_TIMEZONE).
    for (const zone of ['Pacific/Kiritimati', 'Pacific/Pago_Pago']) {
      fake.timeZone = zone;
      const today = new Intl.DateTimeFormat('en-CA', { timeZone: zone }).format(new Date());
      const yesterday = new Date(Date.parse(`${today}T00:00:00Z`) - DAY_MS).toISOString();
      const sixBefore = new Date(Date.parse(yesterday) - 6 * DAY_MS).toISOString();
      const { body } = await reconcile('', 200);
      expect(body).toMatchObject({
        time_zone: zone,
        start_date: sixBefore.slice(0, 10),
        end_date: yesterday.slice(0, 10),
      });
      // GA4 was asked for every day the range could cover, whatever the property's zone.
      const [asked] = fake.runReportCalls.at(-1)!.body.dateRanges as {
        startDate: string;
        endDate: string;
      }[];
      expect(asked.startDate <= body.start_date && asked.endDate >= body.end_date).toBe(true);
    }
  });

  it('takes a range valid in REPORT_TIMEZONE whatever day the property’s zone is on', async () => {
    // 366 days ending UTC's yesterday: 367 in a zone already a day ahead (here after 10:00 UTC).
    fake.timeZone = 'Pacific/Kiritimati';
    const { body } = await reconcile(`?start_date=${day(366)}`, 200);
    expect(body.start_date).toBe(day(366));
  });

  it('ends a range given only a start of today on today, not on yesterday before it', async () => {
    const today = day(0);
    const { body } = await reconcile(`?start_date=${today}`, 200);
    expect(body).toMatchObject({ start_date: today, end_date: today });
  });

  it('validates dates and needs an API key', async () => {
    await reconcile('?start_date=2026-02-30', 400);
    await reconcile(`?start_date=${d3}&end_date=${d1}`, 400);
    // A start alone too far back: the field sent is the one named, not the default end.
    const { body } = await reconcile(`?start_date=${day(400)}`, 400);
    expect(body.error.details.map((detail) => detail.field)).toEqual(['start_date']);
    await fixture.http().get('/v1/events/reconcile').expect(401);
  });
});

describe('GET /v1/events/reconcile when the token endpoint answers without a token', () => {
  // An app of its own: the others hold a cached token and would not ask again.
  const fixture = useAppFixture(() => ({ ...fake.env(), API_KEYS: KEY, GA4_RETRIES: '0' }));
  afterAll(() => fake.reset());

  it('answers 502, not 500', async () => {
    fake.tokenAnswer = { token_type: 'Bearer', expires_in: 3599 };
    const { body } = await fixture
      .http()
      .get(`/v1/events/reconcile?start_date=${day(8)}&end_date=${day(6)}`)
      .set('X-API-Key', KEY)
      .expect(502);
    expect(body.error).toMatchObject({
      code: 'ga4_unavailable',
      message: 'GA4 is unavailable: the token endpoint answered without an access_token',
    });
    expect(fake.runReportCalls).toHaveLength(0);
  });

  it('answers 502, not 500, when the token endpoint answers JSON null', async () => {
    fake.tokenAnswer = null;
    const { body } = await fixture
      .http()
      .get(`/v1/events/reconcile?start_date=${day(8)}&end_date=${day(6)}`)
      .set('X-API-Key', KEY)
      .expect(502);
    expect(body.error).toMatchObject({
      code: 'ga4_unavailable',
      message: 'GA4 is unavailable: /token answered with a body that is not a JSON object',
    });
  });
});

describe('GET /v1/events/reconcile when the service stops', () => {
  const fixture = useAppFixture(() => ({
    ...fake.env(),
    API_KEYS: KEY,
    GA4_TIMEOUT_MS: '5000',
    GA4_RETRIES: '2',
  }));
  afterAll(() => fake.reset());

  it('gives up waiting on GA4 when the server starts closing, and answers', async () => {
    fake.delayMs = 30_000;
    const answer = fixture
      .http()
      .get(`/v1/events/reconcile?start_date=${day(8)}&end_date=${day(6)}`)
      .set('X-API-Key', KEY)
      .then((response) => response);
    while (fake.runReportCalls.length === 0) await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    // What SIGTERM does first (main.ts): close the HTTP server, waiting for requests in flight.
    await fixture.app.getHttpAdapter().close();
    const { status, body } = await answer;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(status).toBe(502);
    expect(body.error).toEqual(
      expect.objectContaining({
        code: 'ga4_unavailable',
        message: 'GA4 is unavailable: the request was stopped: the service is shutting down',
      }),
    );
  });
});

describe('GET /v1/events/reconcile with a key file without token_uri', () => {
  const fixture = useAppFixture(() => ({
    ...fake.env(),
    GA4_CREDENTIALS_FILE: fake.selfSignedKeyFile(),
    API_KEYS: KEY,
  }));
  afterAll(() => fake.reset());

  it('authenticates with a self-signed JWT, without a token exchange', async () => {
    fake.calls.length = 0;
    const { body } = await fixture
      .http()
      .get(`/v1/events/reconcile?start_date=${day(8)}&end_date=${day(6)}`)
      .set('X-API-Key', KEY)
      .expect(200);
    expect(body.property_id).toBe(fake.propertyId);
    expect(fake.calls.filter((call) => call.path === '/token')).toHaveLength(0);
    expect(fake.selfSignedClaims).toMatchObject({
      iss: fake.clientEmail,
      sub: fake.clientEmail,
      aud: 'https://analyticsdata.googleapis.com/',
    });
  });
});

describe('GET /v1/events/reconcile when the token endpoint refuses the key', () => {
  const fixture = useAppFixture(() => ({
    ...fake.env(),
    GA4_CREDENTIALS_FILE: fake.foreignKeyFile(),
    API_KEYS: KEY,
  }));

  it('answers 502 with the OAuth error code and message', async () => {
    const { body } = await fixture
      .http()
      .get(`/v1/events/reconcile?start_date=${day(8)}&end_date=${day(6)}`)
      .set('X-API-Key', KEY)
      .expect(502);
    expect(body.error.code).toBe('ga4_error');
    expect(body.error.message).toContain('400 invalid_grant: Invalid JWT Signature.');
  });
});

describe('GET /v1/events/reconcile when GA4 cannot be reached', () => {
  const fixture = useAppFixture(() => ({
    ...fake.env(),
    API_KEYS: KEY,
    GA4_TIMEOUT_MS: '500',
    GA4_RETRIES: '1',
    // A port nothing listens on; the token endpoint (from the key file) is the fake's.
    GA4_API_URL: 'http://127.0.0.1:9',
  }));

  it('answers 502 quickly', async () => {
    const started = Date.now();
    const { body } = await fixture
      .http()
      .get(`/v1/events/reconcile?start_date=${day(8)}&end_date=${day(6)}`)
      .set('X-API-Key', KEY)
      .expect(502);
    expect(body.error.code).toBe('ga4_unavailable');
    expect(body.error.message).toContain('cannot connect');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

function row(
  date: string,
  eventType: string,
  ga4Name: string,
  ga4: number,
  db: number,
  difference: number,
  pct: number | null,
  status: string,
  provisional = false,
) {
  return {
    date,
    event_type: eventType,
    ga4_event_name: ga4Name,
    ga4_count: ga4,
    db_count: db,
    difference,
    difference_pct: pct,
    status,
    provisional,
  };
}
