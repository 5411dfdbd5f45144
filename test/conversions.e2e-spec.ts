import { describe, expect, it, beforeAll } from 'vitest';
import { anEvent } from './support/event-factory';
import { AttributionPassThread } from '../src/reporting/rollup/attribution-pass-thread';
import { useAppFixture } from './support/app-fixture';
import { apiClient } from './support/api-client';
import type { components, operations } from './support/api-schema';
import { knockDownPassThread } from './support/pass-thread';

type ConversionsQuery = NonNullable<operations['getConversions']['parameters']['query']>;
type ConversionsReport = components['schemas']['ConversionsReportDto'];

const KEY = 'reporting-key-0123456789';
const HOUR = 3_600_000;
const hoursAgo = (hours: number) => new Date(Date.now() - hours * HOUR).toISOString();

describe('GET /v1/events/conversions', () => {
  const fixture = useAppFixture({ API_KEYS: KEY });

  const track = (overrides: Record<string, unknown>) =>
    fixture
      .http()
      .post('/v1/events/track')
      .send(
        anEvent({
          page_url: 'https://shop.example.com/',
          referrer: undefined,
          value: undefined,
          currency: undefined,
          ...overrides,
        }),
      )
      .expect(200);
  /** Through the generated client: typed query and body, the answer checked against openapi.json. */
  const report = async (query: ConversionsQuery = {}) => {
    const { data, response } = await apiClient(fixture.app, { 'X-API-Key': KEY }).GET(
      '/v1/events/conversions',
      { params: { query } },
    );
    expect(response.status).toBe(200);
    return data!;
  };
  /** Raw HTTP, for queries the typed client would not let through. */
  const rawReport = (query: string) =>
    fixture.http().get(`/v1/events/conversions${query}`).set('X-API-Key', KEY);
  const rowFor = (body: ConversionsReport, source: string) =>
    body.by_source.find((row) => row.source === source);

  beforeAll(async () => {
    // alice: google ad (48 h ago) → facebook (20 h ago) → direct purchase of 100 EUR (now)
    await track({
      visitor_id: 'alice',
      event_type: 'page_view',
      page_url: 'https://shop.example.com/?utm_source=google&utm_medium=cpc&utm_campaign=bf',
      occurred_at: hoursAgo(48),
    });
    await track({
      visitor_id: 'alice',
      event_type: 'page_view',
      referrer: 'https://www.facebook.com/',
      occurred_at: hoursAgo(20),
    });
    await track({ visitor_id: 'alice', event_type: 'purchase', value: 100, currency: 'EUR' });
    // bob: newsletter touch as an anonymous visitor, then signs up (links), then buys as the user: 50 USD
    await track({
      visitor_id: 'bob-browser',
      event_type: 'page_view',
      page_url: 'https://shop.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=nov',
      occurred_at: hoursAgo(30),
    });
    await track({
      visitor_id: 'bob-browser',
      user_id: 'bob',
      event_type: 'login',
      occurred_at: hoursAgo(2),
    });
    await track({
      user_id: 'bob',
      visitor_id: undefined,
      event_type: 'purchase',
      value: 50,
      currency: 'USD',
    });
    // carol: no touchpoint at all
    await track({ visitor_id: 'carol', event_type: 'generate_lead' });
    // a crawler's conversion and touchpoint
    await fixture
      .http()
      .post('/v1/events/track')
      .set('User-Agent', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)')
      .send(
        anEvent({
          visitor_id: 'bot',
          event_type: 'purchase',
          page_url: 'https://shop.example.com/?utm_source=botsource&utm_medium=cpc',
          value: 1,
          currency: 'EUR',
        }),
      )
      .expect(200);
  });

  it('needs an API key, and its 401 names the scheme', async () => {
    const response = await fixture.http().get('/v1/events/conversions').expect(401);
    expect(response.headers['www-authenticate']).toBe('Bearer realm="api"');
    expect(response.body.error.code).toBe('unauthorized');
  });

  it('tells caches not to keep a keyed report (X-API-Key does not keep it out of a shared one)', async () => {
    for (const path of ['/v1/events/conversions', '/v1/funnels/default', '/v1/reconciliation/runs'])
      await fixture
        .http()
        .get(path)
        .set('X-API-Key', KEY)
        .expect(200)
        .expect('Cache-Control', 'no-store');
  });

  it('credits the last touch by default, counts linked visitors for their user, and (direct) without touchpoints', async () => {
    const body = await report();
    expect(body).toMatchObject({
      attribution: 'last_touch',
      lookback_days: 30,
      timezone: 'UTC',
      filters: { utm_source: null, utm_campaign: null, event_type: null, include_bots: false },
    });
    // alice's purchase, bob's login and purchase, carol's lead; page views are not conversions
    expect(body.totals).toEqual({ conversions: 4, value_by_currency: { EUR: 100, USD: 50 } });
    expect(rowFor(body, 'facebook')).toEqual({
      source: 'facebook',
      medium: 'social',
      campaign: null,
      conversions: 1,
      value_by_currency: { EUR: 100 },
    });
    expect(rowFor(body, 'newsletter')).toEqual({
      source: 'newsletter',
      medium: 'email',
      campaign: 'nov',
      conversions: 2,
      value_by_currency: { USD: 50 },
    });
    expect(rowFor(body, '(direct)')).toMatchObject({ conversions: 1 });
    expect(rowFor(body, 'botsource')).toBeUndefined();
    expect(body.by_event_type).toEqual([
      { event_type: 'purchase', conversions: 2, value_by_currency: { EUR: 100, USD: 50 } },
      { event_type: 'generate_lead', conversions: 1, value_by_currency: {} },
      { event_type: 'login', conversions: 1, value_by_currency: {} },
    ]);
    expect(body.daily).toHaveLength(31);
    expect(
      body.daily.reduce((sum: number, day: { conversions: number }) => sum + day.conversions, 0),
    ).toBe(4);
  });

  it('shares credit by the chosen model', async () => {
    const first = await report({ attribution: 'first_touch', event_type: 'purchase' });
    expect(rowFor(first, 'google')).toMatchObject({
      conversions: 1,
      value_by_currency: { EUR: 100 },
    });
    const linear = await report({ attribution: 'linear', event_type: 'purchase' });
    expect(rowFor(linear, 'google')).toMatchObject({
      conversions: 0.5,
      value_by_currency: { EUR: 50 },
    });
    expect(rowFor(linear, 'facebook')).toMatchObject({
      conversions: 0.5,
      value_by_currency: { EUR: 50 },
    });
    const position = await report({ attribution: 'position_based', event_type: 'purchase' });
    expect(rowFor(position, 'google')).toMatchObject({ conversions: 0.5 });
    const decay = await report({ attribution: 'time_decay', event_type: 'purchase' });
    // 48 h and 20 h before, 168 h half-life: weights 2^(-48/168) and 2^(-20/168)
    const google = rowFor(decay, 'google')!;
    const expected = Math.pow(2, -48 / 168) / (Math.pow(2, -48 / 168) + Math.pow(2, -20 / 168));
    expect(google.conversions).toBeCloseTo(expected, 3);
    expect(decay.totals.conversions).toBe(2);
  });

  it('filters on the credited touchpoint and on the conversion type', async () => {
    const google = await report({ attribution: 'linear', utm_source: 'google' });
    expect(google.totals).toEqual({ conversions: 0.5, value_by_currency: { EUR: 50 } });
    expect(google.by_source.map((row: { source: string }) => row.source)).toEqual(['google']);
    // Sources are stored lower-cased, so the filter is case-insensitive.
    const capitalised = await report({ attribution: 'linear', utm_source: 'Google' });
    expect(capitalised.totals).toEqual(google.totals);
    // Values are stored trimmed, and so are the filters.
    const spaced = await report({ attribution: 'linear', utm_source: ' Google ' });
    expect(spaced.totals).toEqual(google.totals);
    const campaign = await report({ utm_campaign: 'nov' });
    expect(campaign.totals.conversions).toBe(2);
    expect((await report({ utm_campaign: ' nov ' })).totals).toEqual(campaign.totals);
    const leads = await report({ event_type: 'generate_lead' });
    expect(leads.totals.conversions).toBe(1);
    // Parameters left empty, as a form sends them, are absent: no filter, the defaults.
    const unfiltered = await report({});
    const empty = await rawReport(
      '?utm_source=&utm_campaign=&event_type=&start_date=&end_date=&attribution=&lookback_days=&include_bots=&=',
    ).expect(200);
    expect(empty.body.totals).toEqual(unfiltered.totals);
    expect(empty.body.filters).toEqual(unfiltered.filters);
    expect(empty.body.start_date).toBe(unfiltered.start_date);
    expect(empty.body.attribution).toBe('last_touch');
  });

  it('applies the lookback window', async () => {
    const body = await report({ lookback_days: 1, event_type: 'purchase' });
    // alice's google (48 h) drops out, facebook (20 h) stays; bob's newsletter (30 h) drops out
    expect(rowFor(body, 'google')).toBeUndefined();
    expect(rowFor(body, 'facebook')).toMatchObject({ conversions: 1 });
    expect(rowFor(body, '(direct)')).toMatchObject({
      conversions: 1,
      value_by_currency: { USD: 50 },
    });
  });

  it('counts bots only with include_bots=true', async () => {
    const body = await report({ include_bots: true });
    expect(rowFor(body, 'botsource')).toMatchObject({ conversions: 1 });
    expect(body.totals.conversions).toBe(5);
  });

  it.each([
    ['?start_date=2026-02-30', 'start_date'],
    ['?end_date=foo', 'end_date'],
    ['?end_date=2026-13-01', 'end_date'],
    // The day after it has a five-digit year, which once made the day-by-day walk endless.
    ['?end_date=9999-12-31', 'end_date'],
    // A NUL would cut the SQL text short: PostgreSQL refuses it as a protocol error (was 503).
    ['?utm_source=%00', 'utm_source'],
    ['?utm_campaign=a%00b', 'utm_campaign'],
    ['?event_type=%00', 'event_type'],
    ['?start_date=2026-03-02&end_date=2026-03-01', 'end_date'],
    ['?start_date=2024-01-01&end_date=2025-06-01', 'end_date'],
    ['?attribution=u_shaped', 'attribution'],
    ['?lookback_days=0', 'lookback_days'],
    ['?lookback_days=91', 'lookback_days'],
    ['?lookback_days=ten', 'lookback_days'],
    // One value, one spelling: Number() would read each of these as 10 or 5.
    ['?lookback_days=1e1', 'lookback_days'],
    ['?lookback_days=%2B5', 'lookback_days'],
    ['?lookback_days=05', 'lookback_days'],
    ['?lookback_days=5.0', 'lookback_days'],
    ['?include_bots=maybe', 'include_bots'],
    ['?color=blue', 'color'],
    // Named like members of every object: the whitelist once took them for declared fields.
    ['?toString=x', 'toString'],
    ['?hasOwnProperty=x', 'hasOwnProperty'],
    ['?constructor=x', 'constructor'],
    ['?__proto__=x', '__proto__'],
    ['?=x', 'query'],
  ])('answers %s with 400 naming %s', async (query, field) => {
    const { body } = await rawReport(query).expect(400);
    expect(body.error.code).toBe('validation_failed');
    expect(body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    if (field === 'lookback_days') {
      expect(body.error.details).toContainEqual({
        field,
        message: 'lookback_days must be a whole number from 1 to 90, in plain digits',
      });
    }
  });

  it('answers from raw events, with every acknowledged event, while the rollup cannot be refreshed', async () => {
    const before = await report();
    await knockDownPassThread(fixture.app.get(AttributionPassThread));
    await track({ visitor_id: 'dave', event_type: 'purchase', value: 10, currency: 'EUR' });
    const body = await report();
    expect(body.totals).toEqual({
      conversions: before.totals.conversions + 1,
      value_by_currency: {
        ...before.totals.value_by_currency,
        EUR: (before.totals.value_by_currency.EUR ?? 0) + 10,
      },
    });
    expect(rowFor(body, 'facebook')).toEqual(rowFor(before, 'facebook'));
  });
});

describe('CONVERSION_EVENT_TYPES', () => {
  const fixture = useAppFixture({ API_KEYS: KEY, CONVERSION_EVENT_TYPES: 'purchase' });

  it('limits what counts as a conversion', async () => {
    await fixture
      .http()
      .post('/v1/events/track')
      .send(anEvent({ event_type: 'generate_lead' }))
      .expect(200);
    await fixture
      .http()
      .post('/v1/events/track')
      .send(anEvent({ event_type: 'purchase' }))
      .expect(200);
    const { body } = await fixture
      .http()
      .get('/v1/events/conversions')
      .set('Authorization', `Bearer ${KEY}`)
      .expect(200);
    expect(body.by_event_type.map((row: { event_type: string }) => row.event_type)).toEqual([
      'purchase',
    ]);
  });
});

describe('the rollup with touchpoint texts of many bytes', () => {
  const fixture = useAppFixture({ API_KEYS: KEY });
  /** 256 characters of 4 bytes each: within the fields' limits, 1 KB of UTF-8. */
  const wide = (seed: number) =>
    Array.from({ length: 256 }, (_, i) =>
      String.fromCodePoint(0x1f300 + ((i * 7 + seed) % 0x700)),
    ).join('');

  it('folds an event whose source, medium and campaign are each 256 four-byte characters', async () => {
    const [source, medium, campaign] = [wide(1), wide(2), wide(3)];
    await fixture
      .http()
      .post('/v1/events/track')
      .send(
        anEvent({
          event_type: 'purchase',
          value: 5,
          currency: 'EUR',
          utm_source: source,
          utm_medium: medium,
          utm_campaign: campaign,
          page_url: 'https://shop.example.com/',
        }),
      )
      .expect(200);
    // The default report reads the rollup: the row once made its index entry too large.
    const { body } = await fixture
      .http()
      .get('/v1/events/conversions')
      .set('X-API-Key', KEY)
      .expect(200);
    expect(body.by_source).toEqual([
      { source, medium, campaign, conversions: 1, value_by_currency: { EUR: 5 } },
    ]);
  });
});

describe('values with more than six decimals', () => {
  const fixture = useAppFixture({ API_KEYS: KEY });

  it('reports them rounded to six, so a floating-point total is not a millionth short', async () => {
    for (const value of [19.999999999999996, 2.9999999])
      await fixture
        .http()
        .post('/v1/events/track')
        .send(anEvent({ event_type: 'purchase', value, currency: 'USD' }))
        .expect(200);
    for (const query of ['', '?attribution=linear']) {
      const { body } = await fixture
        .http()
        .get(`/v1/events/conversions${query}`)
        .set('X-API-Key', KEY)
        .expect(200);
      expect(body.totals.value_by_currency).toEqual({ USD: 23 });
    }
  });
});

describe('a value shared by a multi-touch model', () => {
  const fixture = useAppFixture({ API_KEYS: KEY });

  it('is split in the model’s exact proportions, on the rollup and on raw events alike', async () => {
    for (const source of ['s1', 's2', 's3'])
      await fixture
        .http()
        .post('/v1/events/track')
        .send(
          anEvent({
            visitor_id: 'big',
            event_type: 'page_view',
            page_url: `https://shop.example.com/?utm_source=${source}&utm_medium=cpc`,
            referrer: undefined,
          }),
        )
        .expect(200);
    await fixture
      .http()
      .post('/v1/events/track')
      .send(
        anEvent({
          visitor_id: 'big',
          event_type: 'purchase',
          value: 900_000_000,
          page_url: 'https://shop.example.com/checkout',
          referrer: undefined,
          currency: 'JPY',
        }),
      )
      .expect(200);
    // lookback_days=29 reads raw events; the default reads the rollup.
    for (const query of ['?attribution=linear', '?attribution=linear&lookback_days=29']) {
      const { body } = await fixture
        .http()
        .get(`/v1/events/conversions${query}`)
        .set('X-API-Key', KEY)
        .expect(200);
      expect(
        (body.by_source as { source: string; value_by_currency: object }[])
          .map(({ source, value_by_currency }) => [source, value_by_currency])
          .sort(),
      ).toEqual([
        ['s1', { JPY: 300_000_000 }],
        ['s2', { JPY: 300_000_000 }],
        ['s3', { JPY: 300_000_000 }],
      ]);
    }
  });
});

describe('reports over raw events at once', () => {
  const fixture = useAppFixture({ API_KEYS: KEY });

  it('runs two at a time in a process; the others wait their turn and are answered', async () => {
    const running = async () =>
      (
        await fixture.db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND query LIKE '%WITH scoped AS%'
             AND query NOT LIKE '%pg_stat_activity%'`,
        )
      ).rows[0].n;
    // Every raw report reads identity_links: held, they wait on it where the test can count them.
    const holder = await fixture.db.pool.connect();
    let answers: Promise<number[]>;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE identity_links IN ACCESS EXCLUSIVE MODE');
      answers = Promise.all(
        Array.from({ length: 4 }, () =>
          fixture
            .http()
            .get('/v1/events/conversions?lookback_days=31')
            .set('X-API-Key', KEY)
            .then((response) => response.status),
        ),
      );
      await expect.poll(running).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await running()).toBe(2);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect(await answers).toEqual([200, 200, 200, 200]);
  });
});
