import { beforeEach, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { useAppFixture } from './support/app-fixture';

describe('POST /v1/events/track/batch', () => {
  const fixture = useAppFixture();
  beforeEach(async () => {
    await fixture.reset();
  });

  /** A body as text: an own `__proto__` key, which JSON.stringify cannot write, or exact nesting. */
  const batchText = (text: string) =>
    fixture
      .http()
      .post('/v1/events/track/batch')
      .set('Content-Type', 'application/json')
      .send(text);
  const batch = (body: unknown) => batchText(JSON.stringify(body));
  const storedIds = async () =>
    (await fixture.db.pool.query('SELECT event_id FROM events ORDER BY event_id')).rows.map(
      (r) => r.event_id,
    );

  it('stores each valid event, reports each bad one, one result per event in order', async () => {
    const good1 = anEvent();
    const good2 = anEvent({ visitor_id: 'v9', user_id: 'u9', event_type: 'sign_up' });
    const toCustomer = [
      { funnel: 'default', stage: 'customer', previous_stage: null, advanced: true },
    ];
    const toSignup = [{ funnel: 'default', stage: 'signup', previous_stage: null, advanced: true }];
    const response = await batch({
      events: [good1, anEvent({ event_type: '9bad', value: -1 }), good2, { ...good1 }],
    }).expect(200);

    expect(response.body.success).toBe(true);
    expect(response.body.results).toEqual([
      {
        index: 0,
        success: true,
        event_id: good1.event_id,
        duplicate: false,
        funnel_updates: toCustomer,
        error: null,
      },
      {
        index: 1,
        success: false,
        event_id: null,
        duplicate: false,
        funnel_updates: [],
        error: {
          code: 'validation_failed',
          message: expect.any(String),
          details: expect.arrayContaining([
            expect.objectContaining({ field: 'event_type' }),
            expect.objectContaining({ field: 'value' }),
          ]),
        },
      },
      {
        index: 2,
        success: true,
        event_id: good2.event_id,
        duplicate: false,
        funnel_updates: toSignup,
        error: null,
      },
      {
        index: 3,
        success: true,
        event_id: good1.event_id,
        duplicate: true,
        funnel_updates: [],
        error: null,
      },
    ]);
    expect(await storedIds()).toEqual([good1.event_id, good2.event_id].sort());
    expect(
      (await fixture.db.pool.query('SELECT visitor_id, user_id FROM identity_links')).rows,
    ).toEqual([{ visitor_id: 'v9', user_id: 'u9' }]);
  });

  it('accepts 100 events and a text/plain body', async () => {
    const events = Array.from({ length: 100 }, () => anEvent());
    const response = await fixture
      .http()
      .post('/v1/events/track/batch')
      .set('Content-Type', 'text/plain')
      .send(JSON.stringify({ events }))
      .expect(200);
    expect(response.body.results.every((r: { success: boolean }) => r.success)).toBe(true);
    expect(await storedIds()).toHaveLength(100);
  });

  it('fails only the event holding a key Nest would strip, naming where', async () => {
    const good = anEvent();
    const withKey = (key: string) =>
      JSON.stringify(anEvent()).replace('"properties":{', `"properties":{"${key}":{"x":1},`);
    const body = `{"events":[${JSON.stringify(good)},${withKey('__proto__')},${withKey('constructor')}]}`;
    const response = await batchText(body).expect(200);

    expect(
      response.body.results.map((r: { success: boolean; error: { details: unknown } | null }) => [
        r.success,
        r.error?.details,
      ]),
    ).toEqual([
      [true, undefined],
      [false, [expect.objectContaining({ field: 'properties.__proto__' })]],
      [false, [expect.objectContaining({ field: 'properties.constructor' })]],
    ]);
    expect(await storedIds()).toEqual([good.event_id]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('fails only the event nested too deep to read, naming its field', async () => {
    const good = anEvent();
    const deep = `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`;
    const body = `{"events":[${JSON.stringify(good)},${JSON.stringify(anEvent()).replace('"properties":', `"properties":${deep},"_":`)}]}`;
    const response = await batchText(body).expect(200);

    expect(response.body.results.map((r: { success: boolean }) => r.success)).toEqual([
      true,
      false,
    ]);
    expect(response.body.results[1].error.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: 'properties' })]),
    );
    expect(await storedIds()).toEqual([good.event_id]);
  });

  it.each([
    ['no events', { events: [] }],
    [
      'more than 100 events',
      { events: Array.from({ length: 101 }, () => ({ event_type: 'a', visitor_id: 'v' })) },
    ],
    ['events that are not objects', { events: [anEvent(), 'nope'] }],
    ['events missing', {}],
    ['events not an array', { events: { event_type: 'a' } }],
    ['an array body', [anEvent()]],
    ['unknown top-level fields', { events: [anEvent()], extra: 1 }],
  ])('answers a body with %s with 400 and stores nothing', async (_, body) => {
    const response = await batch(body).expect(400);
    expect(response.body).toMatchObject({ success: false, error: { code: 'validation_failed' } });
    expect(await storedIds()).toEqual([]);
  });
});

describe('POST /v1/events/track/batch when the database fails part of it', () => {
  // One event per statement, so that one event's stalled statement holds up no other.
  const fixture = useAppFixture({ DB_STATEMENT_TIMEOUT_MS: '500', TRACK_BATCH_MAX_ROWS: '1' });
  const sendBatch = (events: unknown[]) =>
    fixture.http().post('/v1/events/track/batch').send({ events });
  /**
   * Another session claims these event_ids uncommitted: a statement storing one of them
   * waits, then times out, which the service reads as the database being unavailable.
   * Returns the release.
   */
  const holdKeys = async (...ids: string[]) => {
    const holder = await fixture.db.pool.connect();
    await holder.query('BEGIN');
    await holder.query(
      'INSERT INTO event_ids (event_id, occurred_at) SELECT unnest($1::text[]), now()',
      [ids],
    );
    return async () => {
      await holder.query('ROLLBACK');
      holder.release();
    };
  };

  it('answers what was stored, and the event the outage refused as database_unavailable', async () => {
    const release = await holdKeys('held-1');
    try {
      // Two visitors: the second's event is stored while the first's statement waits.
      const response = await sendBatch([
        anEvent({ event_id: 'held-1', visitor_id: 'waits' }),
        anEvent({ event_id: 'free-2', visitor_id: 'goes-on' }),
      ]).expect(200);
      expect(response.body.results).toEqual([
        expect.objectContaining({
          index: 0,
          success: false,
          error: expect.objectContaining({ code: 'database_unavailable' }),
        }),
        expect.objectContaining({ index: 1, success: true, event_id: 'free-2' }),
      ]);
    } finally {
      await release();
    }
    const { rows } = await fixture.db.pool.query('SELECT event_id FROM events');
    expect(rows).toEqual([{ event_id: 'free-2' }]);
  });

  it('answers an event that failed unexpectedly as internal_error once others are stored', async () => {
    await fixture.reset();
    // A fault no validation foresees (here a trigger; in life, a bug) for one event only.
    await fixture.db.pool.query(`
      CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.event_id = 'boom' THEN RAISE EXCEPTION 'a fault'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_boom BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_boom();`);
    try {
      const response = await sendBatch([
        anEvent({ event_id: 'boom', visitor_id: 'faulty' }),
        anEvent({ event_id: 'fine', visitor_id: 'healthy' }),
      ]).expect(200);
      expect(response.body.results).toEqual([
        expect.objectContaining({
          index: 0,
          success: false,
          error: { code: 'internal_error', message: 'Internal server error', details: [] },
        }),
        expect.objectContaining({ index: 1, success: true, event_id: 'fine' }),
      ]);
    } finally {
      await fixture.db.pool.query(
        'DROP TRIGGER refuse_boom ON events; DROP FUNCTION refuse_boom()',
      );
    }
  });

  it('answers a stalled batch after one timeout, not one per event of a person', async () => {
    await fixture.reset();
    const ids = Array.from({ length: 8 }, (_, i) => `stalled-${i}`);
    const release = await holdKeys(...ids);
    try {
      const started = performance.now();
      // One visitor's page views: each waits for the one before it.
      await sendBatch(ids.map((id) => anEvent({ event_id: id, visitor_id: 'stalled' }))).expect(
        503,
      );
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      await release();
    }
  });

  it('answers 503 when the outage left nothing stored', async () => {
    await fixture.reset();
    const release = await holdKeys('held-2');
    try {
      const response = await sendBatch([
        anEvent({ event_id: 'held-2' }),
        anEvent({ event_type: '9bad' }),
      ]).expect(503);
      expect(response.headers['retry-after']).toBeDefined();
    } finally {
      await release();
    }
    expect((await fixture.db.pool.query('SELECT 1 FROM events')).rows).toEqual([]);
  });
});
