import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { useAppFixture } from './support/app-fixture';

describe('POST /v1/events/track', () => {
  const fixture = useAppFixture();
  beforeEach(async () => {
    await fixture.reset();
  });

  const track = (body: unknown) =>
    fixture
      .http()
      .post('/v1/events/track')
      .set('Content-Type', 'application/json')
      .send(typeof body === 'string' ? body : JSON.stringify(body));
  const countEvents = async () =>
    Number((await fixture.db.pool.query('SELECT count(*) FROM events')).rows[0].count);

  it('stores an event with its attribution and answers after commit', async () => {
    const event = anEvent({ user_id: 'user_1' });
    const response = await track(event)
      .set('User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36')
      .expect(200);

    expect(response.body).toEqual({
      success: true,
      event_id: event.event_id,
      duplicate: false,
      funnel_updates: [
        { funnel: 'default', stage: 'customer', previous_stage: null, advanced: true },
      ],
    });
    const { rows } = await fixture.db.pool.query('SELECT * FROM events WHERE event_id = $1', [
      event.event_id,
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      event_type: 'purchase',
      visitor_id: event.visitor_id,
      user_id: 'user_1',
      utm_source: 'newsletter',
      utm_medium: 'email',
      utm_campaign: 'black_friday',
      source: 'newsletter',
      medium: 'email',
      campaign: 'black_friday',
      channel: 'email',
      value: '49.9',
      currency: 'EUR',
      properties: event.properties,
      is_bot: false,
      ip_prefix: '127.0.0.0/24',
    });
  });

  it('refuses keys Nest would strip from properties, naming where, rather than storing less', async () => {
    const cases = [
      [{ keep: 1, constructor: 'x' }, 'properties.constructor'],
      [{ keep: 1, list: [{ prototype: 2 }] }, 'properties.list.0.prototype'],
    ] as const;
    for (const [properties, field] of cases) {
      const response = await track(anEvent({ properties })).expect(400);
      expect(response.body.error).toMatchObject({
        code: 'validation_failed',
        details: [{ field, message: 'keys named __proto__, prototype, constructor are refused' }],
      });
    }
    expect(await countEvents()).toBe(0);
  });

  it('stores properties named like Object.prototype members as sent, on the full validation path too', async () => {
    const properties = { valueOf: null, toString: 'x', nested: { hasOwnProperty: true } };
    // An emoji in a UTM value takes the event past the fast check, through class-transformer.
    const event = anEvent({ utm_campaign: 'winter 😀', properties });
    await track(event).expect(200);
    const { rows } = await fixture.db.pool.query(
      'SELECT properties FROM events WHERE event_id = $1',
      [event.event_id],
    );
    expect(rows).toEqual([{ properties }]);
  });

  it('links the visitor to the user when an event carries both', async () => {
    await track(anEvent({ visitor_id: 'v_anon', user_id: 'u_known' })).expect(200);
    await track(anEvent({ visitor_id: 'v_anon', user_id: 'u_known' })).expect(200);
    const { rows } = await fixture.db.pool.query('SELECT visitor_id, user_id FROM identity_links');
    expect(rows).toEqual([{ visitor_id: 'v_anon', user_id: 'u_known' }]);
  });

  it('accepts a text/plain body, as navigator.sendBeacon sends it', async () => {
    const event = anEvent();
    await fixture
      .http()
      .post('/v1/events/track')
      .set('Content-Type', 'text/plain;charset=UTF-8')
      .send(JSON.stringify(event))
      .expect(200);
    expect(await countEvents()).toBe(1);
  });

  it('takes null for any optional field as it takes the field left out, as openapi.json says', async () => {
    const document = JSON.parse(readFileSync(join(__dirname, '..', 'openapi.json'), 'utf8')) as {
      components: { schemas: Record<string, { required: string[]; properties: object }> };
    };
    const schema = document.components.schemas.TrackEventDto;
    const optional = Object.keys(schema.properties).filter(
      (name) => !schema.required.includes(name) && name !== 'visitor_id',
    );
    expect(optional).toEqual(
      expect.arrayContaining(['event_id', 'value', 'currency', 'properties']),
    );
    const allNull = Object.fromEntries(optional.map((name) => [name, null]));
    const response = await track({ event_type: 'page_view', visitor_id: 'v_nulls', ...allNull });
    expect(response.status).toBe(200);
    const { rows } = await fixture.db.pool.query(
      'SELECT visitor_id, value, properties FROM events',
    );
    expect(rows).toEqual([{ visitor_id: 'v_nulls', value: null, properties: null }]);
  });

  it('generates an event_id when none is given, and defaults occurred_at to the receive time', async () => {
    const { event_id: _omitted, ...event } = anEvent();
    const before = Date.now();
    const response = await track(event).expect(200);
    expect(response.body.event_id).toMatch(/^[0-9a-f-]{36}$/);
    const { rows } = await fixture.db.pool.query('SELECT occurred_at FROM events');
    expect(rows[0].occurred_at.getTime()).toBeGreaterThanOrEqual(before - 1000);
  });

  it('stores occurred_at with its offset normalised', async () => {
    const occurredAt = new Date(Date.now() - 3_600_000);
    const local = occurredAt.toISOString().replace('Z', '+00:00');
    await track(anEvent({ occurred_at: local })).expect(200);
    const { rows } = await fixture.db.pool.query('SELECT occurred_at FROM events');
    expect(rows[0].occurred_at.toISOString()).toBe(occurredAt.toISOString());
  });

  describe('idempotency', () => {
    it('answers a repeated event_id with duplicate: true and stores it once', async () => {
      const event = anEvent();
      await track(event).expect(200);
      const again = await track({ ...event, value: 99 }).expect(200);
      expect(again.body).toMatchObject({
        success: true,
        event_id: event.event_id,
        duplicate: true,
      });
      expect(await countEvents()).toBe(1);
    });

    it('stores exactly one of many concurrent duplicates', async () => {
      const event = anEvent();
      const responses = await Promise.all(Array.from({ length: 25 }, () => track(event)));
      expect(responses.map((r) => r.status)).toEqual(Array(25).fill(200));
      expect(responses.filter((r) => r.body.duplicate === false)).toHaveLength(1);
      expect(responses.every((r) => r.body.event_id === event.event_id)).toBe(true);
      expect(await countEvents()).toBe(1);
    });
  });

  describe('attribution', () => {
    const stored = async (overrides: Record<string, unknown>) => {
      const event = anEvent({
        page_url: 'https://shop.example.com/p',
        referrer: undefined,
        ...overrides,
      });
      await track(event).expect(200);
      const { rows } = await fixture.db.pool.query('SELECT * FROM events WHERE event_id = $1', [
        event.event_id,
      ]);
      return rows[0];
    };

    it('takes UTM parameters and click ids from page_url when the body has none', async () => {
      const row = await stored({
        page_url:
          'https://shop.example.com/?utm_source=FaceBook&utm_medium=Paid_Social&utm_campaign=Spring&utm_term=t&utm_content=c&fbclid=FB1',
      });
      expect(row).toMatchObject({
        utm_source: 'facebook',
        utm_medium: 'paid_social',
        utm_campaign: 'Spring',
        utm_term: 't',
        utm_content: 'c',
        fbclid: 'FB1',
        channel: 'paid_social',
      });
    });

    it('prefers body UTM fields over the page URL, trimmed and lower-cased', async () => {
      const row = await stored({
        utm_source: '  Google ',
        utm_medium: ' CPC',
        page_url: 'https://shop.example.com/?utm_source=bing',
      });
      expect(row).toMatchObject({
        utm_source: 'google',
        utm_medium: 'cpc',
        source: 'google',
        medium: 'cpc',
        channel: 'paid_search',
      });
    });

    it('counts a UTM value’s 256 characters as stored: trimmed', async () => {
      expect(await stored({ utm_campaign: ` ${'c'.repeat(256)}  ` })).toMatchObject({
        utm_campaign: 'c'.repeat(256),
      });
    });

    it('derives google / cpc from gclid and bing / cpc from msclkid', async () => {
      expect(await stored({ page_url: 'https://shop.example.com/?gclid=abc' })).toMatchObject({
        gclid: 'abc',
        source: 'google',
        medium: 'cpc',
        channel: 'paid_search',
      });
      expect(await stored({ msclkid: 'm1' })).toMatchObject({
        source: 'bing',
        medium: 'cpc',
        channel: 'paid_search',
      });
    });

    it('derives search, social and referral sources from the referrer, and direct without one', async () => {
      expect(await stored({ referrer: 'https://www.google.co.uk/search?q=x' })).toMatchObject({
        source: 'google',
        medium: 'organic',
        channel: 'organic_search',
      });
      expect(await stored({ referrer: 'https://l.facebook.com/' })).toMatchObject({
        source: 'facebook',
        medium: 'social',
        channel: 'organic_social',
      });
      expect(await stored({ referrer: 'https://www.blog.example.net/post' })).toMatchObject({
        source: 'blog.example.net',
        medium: 'referral',
        channel: 'referral',
      });
      expect(await stored({})).toMatchObject({
        source: '(direct)',
        medium: '(none)',
        campaign: null,
        channel: 'direct',
      });
      // What `document.referrer` is on a direct visit: no referrer, not a bad one.
      expect(await stored({ referrer: '' })).toMatchObject({
        referrer: null,
        source: '(direct)',
        channel: 'direct',
      });
    });

    it('ignores landing-page parameters PostgreSQL cannot store instead of failing the event', async () => {
      expect(
        await stored({ page_url: 'https://shop.example.com/?utm_source=%00evil&utm_medium=cpc' }),
      ).toMatchObject({
        utm_source: null,
        utm_medium: 'cpc',
      });
    });

    it('does not count a referrer on the page’s own host as a source', async () => {
      expect(await stored({ referrer: 'https://shop.example.com/cart' })).toMatchObject({
        source: '(direct)',
        channel: 'direct',
      });
    });

    it('flags crawlers and headless browsers as bots, but not server-side HTTP libraries', async () => {
      const withAgent = async (agent: string) => {
        const event = anEvent();
        await track(event).set('User-Agent', agent).expect(200);
        return (
          await fixture.db.pool.query('SELECT is_bot, user_agent FROM events WHERE event_id = $1', [
            event.event_id,
          ])
        ).rows[0];
      };
      expect(
        await withAgent('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'),
      ).toMatchObject({ is_bot: true });
      expect(
        await withAgent(
          'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36',
        ),
      ).toMatchObject({ is_bot: true });
      expect(await withAgent('python-requests/2.31.0')).toMatchObject({
        is_bot: false,
        user_agent: 'python-requests/2.31.0',
      });
    });
  });

  describe('rejects bad input with every failing field named and stores nothing', () => {
    const rejects = async (body: unknown, fields: string[]) => {
      const response = await track(body).expect(400);
      expect(response.body).toMatchObject({ success: false, error: { code: 'validation_failed' } });
      expect(response.body.request_id).toEqual(expect.any(String));
      expect(response.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(
        [...fields].sort(),
      );
      expect(await countEvents()).toBe(0);
    };

    it('requires event_type in GA4 event-name form', async () => {
      await rejects(anEvent({ event_type: undefined }), ['event_type']);
      await rejects(anEvent({ event_type: '1purchase' }), ['event_type']);
      await rejects(anEvent({ event_type: 'has space' }), ['event_type']);
      await rejects(anEvent({ event_type: 'a'.repeat(41) }), ['event_type']);
      await rejects(anEvent({ event_type: 42 }), ['event_type']);
    });

    it('requires visitor_id or user_id', async () => {
      await rejects(anEvent({ visitor_id: undefined }), ['visitor_id']);
      const missing = await track(anEvent({ visitor_id: undefined })).expect(400);
      expect(missing.body.error.details).toEqual([
        { field: 'visitor_id', message: 'visitor_id or user_id is required' },
      ]);
      await rejects(anEvent({ visitor_id: '' }), ['visitor_id']);
      await rejects(anEvent({ visitor_id: 'x'.repeat(129) }), ['visitor_id']);
      await track(anEvent({ visitor_id: undefined, user_id: 'u1' })).expect(200);
    });

    it('checks event_id length and printability', async () => {
      await rejects(anEvent({ event_id: '' }), ['event_id']);
      await rejects(anEvent({ event_id: 'e'.repeat(129) }), ['event_id']);
      await rejects(anEvent({ event_id: 'bad\nid' }), ['event_id']);
      // Invisible, yet they would make two ids that look alike differ.
      // prettier-ignore
      const invisibles = ['\u200b', '\ufeff', '\u00ad', '\u2028', '\u202e', '\u034f', '\u3164',
        '\u115f', '\uffa0'];
      for (const invisible of invisibles)
        await rejects(anEvent({ event_id: `order-1${invisible}` }), ['event_id']);
      // Variation selectors and tags belong to what they follow: an emoji, a flag, a variant.
      for (const id of [
        'order-❤️-1',
        '1️⃣-promo',
        '山田葛\u{e0100}子-42',
        'fan-🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}',
      ])
        await track(anEvent({ event_id: id })).expect(200);
      await track(anEvent({ event_id: 'commande-été-№1 😀 𝄞' })).expect(200);
    });

    it('requires occurred_at in ISO-8601 with an offset, not in the future nor too old', async () => {
      await rejects(anEvent({ occurred_at: '2026-11-26 10:00:00' }), ['occurred_at']);
      await rejects(anEvent({ occurred_at: '2026-11-26T10:00:00' }), ['occurred_at']);
      await rejects(anEvent({ occurred_at: '2026-02-30T10:00:00Z' }), ['occurred_at']);
      await rejects(anEvent({ occurred_at: new Date(Date.now() + 6 * 60_000).toISOString() }), [
        'occurred_at',
      ]);
      await rejects(anEvent({ occurred_at: new Date(Date.now() - 73 * 3_600_000).toISOString() }), [
        'occurred_at',
      ]);
      await track(anEvent({ occurred_at: new Date(Date.now() + 4 * 60_000).toISOString() })).expect(
        200,
      );
    });

    it('limits UTM fields to 256 characters and URLs to absolute http(s) of 2048', async () => {
      await rejects(anEvent({ utm_source: 's'.repeat(257), utm_campaign: 'c'.repeat(257) }), [
        'utm_source',
        'utm_campaign',
      ]);
      await rejects(anEvent({ page_url: '/relative/path' }), ['page_url']);
      await rejects(anEvent({ referrer: 'javascript:alert(1)' }), ['referrer']);
      await rejects(anEvent({ page_url: `https://shop.example.com/${'p'.repeat(2048)}` }), [
        'page_url',
      ]);
    });

    it('requires value to be a finite number ≥ 0 with an ISO-4217 currency', async () => {
      await rejects(anEvent({ value: -1 }), ['value']);
      // Two events near the double's limit once made the reports' value totals null.
      await rejects(anEvent({ value: 1e308 }), ['value']);
      await rejects(anEvent({ value: 1e15 + 1 }), ['value']);
      await rejects(anEvent({ value: '10' }), ['value']);
      await rejects(anEvent({ value: 10, currency: undefined }), ['currency']);
      const noCurrency = await track(anEvent({ value: 10, currency: undefined })).expect(400);
      expect(noCurrency.body.error.details).toEqual([
        { field: 'currency', message: 'currency is required when value is given' },
      ]);
      await rejects(anEvent({ currency: 'eur' }), ['currency']);
      await rejects(anEvent({ currency: 'EURO' }), ['currency']);
    });

    it('limits properties to a JSON object of 8 KB and depth 5', async () => {
      await rejects(anEvent({ properties: [1, 2] }), ['properties']);
      await rejects(anEvent({ properties: { big: 'x'.repeat(8200) } }), ['properties']);
      await rejects(anEvent({ properties: { a: { b: { c: { d: { e: { f: 1 } } } } } } }), [
        'properties',
      ]);
      await track(anEvent({ properties: { a: { b: { c: { d: { e: 1 } } } } } })).expect(200);
    });

    it('answers \\u0000 and unpaired surrogates with 400, not a database error', async () => {
      await rejects(anEvent({ visitor_id: 'v\u0000x' }), ['visitor_id']);
      await rejects(anEvent({ properties: { note: 'a\u0000b' } }), ['properties']);
      await rejects(anEvent({ properties: { 'k\u0000': 1 } }), ['properties']);
      await rejects(anEvent({ utm_campaign: 'x\ud800y' }), ['utm_campaign']);
    });

    it('refuses unknown fields rather than dropping them silently', async () => {
      await rejects(anEvent({ evnt_type: 'typo' }), ['evnt_type']);
    });

    it('lists every failing field at once', async () => {
      await rejects({ event_type: '', value: -5, page_url: 'nope' }, [
        'event_type',
        'visitor_id',
        'value',
        'currency',
        'page_url',
      ]);
    });

    it('refuses a body that is not a JSON object', async () => {
      await rejects([anEvent()], ['body']);
      await rejects('"just a string"', ['body']);
    });
  });

  describe('transport errors use the error envelope', () => {
    it('answers malformed JSON with 400', async () => {
      const response = await fixture
        .http()
        .post('/v1/events/track')
        .set('Content-Type', 'application/json')
        .send('{"event_type": "pur')
        .expect(400);
      expect(response.body).toMatchObject({
        success: false,
        error: { code: 'malformed_body', message: 'The body is not valid JSON' },
        request_id: expect.any(String),
      });
      // The same words for a sendBeacon body, which is not application/json.
      const beacon = await fixture
        .http()
        .post('/v1/events/track')
        .set('Content-Type', 'text/plain;charset=UTF-8')
        .send('{"event_type": "pur')
        .expect(400);
      expect(beacon.body.error.message).toBe('The body is not valid JSON');
    });

    it('answers a field named like a member of every object with 400, not dropping it', async () => {
      for (const key of ['toString', 'hasOwnProperty', 'valueOf']) {
        const response = await fixture
          .http()
          .post('/v1/events/track')
          .send({ event_type: 'a', visitor_id: 'v', [key]: 'x' })
          .expect(400);
        expect(response.body.error.details).toEqual([
          { field: key, message: `property ${key} should not exist` },
        ]);
      }
      const batch = await fixture
        .http()
        .post('/v1/events/track/batch')
        .send({ events: [{ event_type: 'a', visitor_id: 'v', toString: 'x' }] })
        .expect(200);
      expect(batch.body.results[0].error.details).toEqual([
        { field: 'toString', message: 'property toString should not exist' },
      ]);
      expect(await countEvents()).toBe(0);
    });

    it('answers thousands of unknown fields with the first twenty named and the rest counted', async () => {
      const unknown = Object.fromEntries(Array.from({ length: 6_000 }, (_, i) => [`k${i}`, 1]));
      const expected = [
        ...Array.from({ length: 20 }, (_, i) => ({
          field: `k${i}`,
          message: `property k${i} should not exist`,
        })),
        { field: 'body', message: 'has 5980 more unknown fields' },
      ];
      const bodies = {
        '/v1/events/track': { visitor_id: 'v', event_type: 'a', ...unknown },
        '/v1/events/funnel': { visitor_id: 'v', stage: 'lead', ...unknown },
      };
      for (const [path, body] of Object.entries(bodies)) {
        const response = await fixture.http().post(path).send(body).expect(400);
        expect(response.body.error.details, path).toEqual(expected);
        expect(response.text.length, path).toBeLessThan(4_000);
      }
      const batch = await fixture
        .http()
        .post('/v1/events/track/batch')
        .send({ events: [{ event_type: 'a', visitor_id: 'v', ...unknown }] })
        .expect(200);
      expect(batch.body.results[0].error.details).toEqual(expected);
      expect(await countEvents()).toBe(0);
    });

    it('answers prototype-pollution keys with 400, naming where they are', async () => {
      const refused = [
        ['{"event_type":"a","visitor_id":"v","__proto__":{"polluted":true}}', '__proto__'],
        [
          '{"event_type":"a","visitor_id":"v","properties":{"a":{"__proto__":{"polluted":true}}}}',
          'properties.a.__proto__',
        ],
        [
          '{"event_type":"a","visitor_id":"v","properties":{"constructor":{"prototype":1}}}',
          'properties.constructor',
        ],
      ];
      for (const [body, field] of refused) {
        const response = await fixture
          .http()
          .post('/v1/events/track')
          .set('Content-Type', 'application/json')
          .send(body)
          .expect(400);
        expect(response.body.error).toMatchObject({
          code: 'validation_failed',
          details: [{ field, message: 'keys named __proto__, prototype, constructor are refused' }],
        });
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(await countEvents()).toBe(0);
    });

    it('lists refused keys with every other failing field, one event or a batch', async () => {
      const body =
        '{"event_type":"9x","visitor_id":5,"hasOwnProperty":1,"properties":{"a":{"constructor":1},"b":[{"__proto__":2}]}}';
      const expected = [
        { field: 'properties.a.constructor', message: expect.stringMatching(/refused/) },
        { field: 'properties.b.0.__proto__', message: expect.stringMatching(/refused/) },
        { field: 'hasOwnProperty', message: 'property hasOwnProperty should not exist' },
        { field: 'event_type', message: expect.any(String) },
        { field: 'visitor_id', message: expect.any(String) },
      ];
      const post = (path: string, text: string) =>
        fixture.http().post(path).set('Content-Type', 'application/json').send(text);
      const one = await post('/v1/events/track', body).expect(400);
      expect(one.body.error.details).toEqual(expected);
      const batch = await post('/v1/events/track/batch', `{"events":[${body}]}`).expect(200);
      expect(batch.body.results[0].error.details).toEqual(expected);
      expect(await countEvents()).toBe(0);
    });

    it('answers other content types with 415', async () => {
      const response = await fixture
        .http()
        .post('/v1/events/track')
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send('event_type=a&visitor_id=v')
        .expect(415);
      expect(response.body.error.code).toBe('unsupported_media_type');
      expect(await countEvents()).toBe(0);
    });

    it('reads bodies as UTF-8 whatever charset they are labelled with: bytes that are not UTF-8 are a 400', async () => {
      const latin1 = Buffer.concat([
        Buffer.from('{"event_type":"page_view","visitor_id":"v","utm_campaign":"caf'),
        Buffer.from([0xe9]), // é in ISO-8859-1, no UTF-8 character
        Buffer.from('"}'),
      ]);
      // Fastify's inject sends the bytes as they are (supertest would serialise a Buffer as JSON).
      const send = async (contentType: string, body: Buffer, status: number) => {
        const reply = await fixture.app
          .getHttpAdapter()
          .getInstance()
          .inject({
            method: 'POST',
            url: '/v1/events/track',
            headers: { 'content-type': contentType },
            payload: body,
          });
        expect(reply.statusCode).toBe(status);
        return { body: reply.json() };
      };
      for (const contentType of [
        'application/json; charset=iso-8859-1',
        'application/json; charset=utf-8',
        'text/plain',
      ]) {
        const refused = await send(contentType, latin1, 400);
        expect(refused.body.error).toMatchObject({
          code: 'malformed_body',
          message: 'The body is not valid UTF-8',
        });
      }
      expect(await countEvents()).toBe(0);
      // A library's label on plain ASCII (RFC 8259 §11: the parameter has no effect on JSON).
      const ascii = Buffer.from(JSON.stringify(anEvent({ event_id: 'ascii-labelled' })));
      await send('application/json; charset=ISO-8859-1', ascii, 200);
      const utf8 = Buffer.from(latin1.toString('latin1'), 'utf8');
      await send('application/json; charset="UTF-8"', utf8, 200);
      const { rows } = await fixture.db.pool.query(
        "SELECT utm_campaign FROM events WHERE event_id <> 'ascii-labelled'",
      );
      expect(rows).toEqual([{ utm_campaign: 'café' }]);
    });

    it('answers a compressed body with 415 naming the coding, and takes identity', async () => {
      const body = JSON.stringify(anEvent());
      const compressed = await fixture
        .http()
        .post('/v1/events/track')
        .set('Content-Type', 'application/json')
        .set('Content-Encoding', 'gzip')
        .send(gzipSync(body))
        .expect(415);
      expect(compressed.body.error).toMatchObject({
        code: 'unsupported_media_type',
        message: 'Content-Encoding gzip is not supported; send the body uncompressed',
      });
      expect(await countEvents()).toBe(0);
      await fixture
        .http()
        .post('/v1/events/track')
        .set('Content-Type', 'application/json')
        .set('Content-Encoding', 'identity')
        .send(body)
        .expect(200);
      // An empty list of codings (RFC 9110 §5.6.1 allows it) is no coding either.
      await fixture
        .http()
        .post('/v1/events/track')
        .set('Content-Type', 'application/json')
        .set('Content-Encoding', '')
        .send(JSON.stringify(anEvent()))
        .expect(200);
    });

    it('answers a body over TRACK_MAX_BODY_BYTES with 413', async () => {
      const response = await track(anEvent({ properties: { pad: 'x'.repeat(70_000) } })).expect(
        413,
      );
      expect(response.body.error.code).toBe('payload_too_large');
      expect(await countEvents()).toBe(0);
    });

    it('answers an unknown route with 404 in the envelope and echoes X-Request-Id', async () => {
      const response = await fixture
        .http()
        .get('/v1/nope')
        .set('X-Request-Id', 'req-123')
        .expect(404);
      expect(response.body).toMatchObject({
        success: false,
        error: { code: 'not_found' },
        request_id: 'req-123',
      });
      expect(response.headers['x-request-id']).toBe('req-123');
    });
  });
});
