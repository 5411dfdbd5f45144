import { beforeEach, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { useAppFixture } from './support/app-fixture';

const STAGES = ['visit', 'lead', 'signup', 'customer'];
const EVENT_FOR_STAGE: Record<string, string> = {
  visit: 'page_view',
  lead: 'generate_lead',
  signup: 'sign_up',
  customer: 'purchase',
};

describe('funnels', () => {
  const fixture = useAppFixture();
  beforeEach(async () => {
    await fixture.reset();
  });

  const post = (path: string, body: unknown) =>
    fixture.http().post(path).set('Content-Type', 'application/json').send(JSON.stringify(body));
  const moveTo = (body: Record<string, unknown>) => post('/v1/events/funnel', body);
  const track = (overrides: Record<string, unknown>) =>
    post('/v1/events/track', anEvent(overrides));
  const progressOf = async (subjectType: string, subjectId: string) =>
    (
      await fixture.db.pool.query(
        'SELECT funnel, stage, stage_index FROM funnel_progress WHERE subject_type = $1 AND subject_id = $2',
        [subjectType, subjectId],
      )
    ).rows;
  const historyOf = async (subjectType: string, subjectId: string) =>
    (
      await fixture.db.pool.query(
        'SELECT from_stage, to_stage, cause_event_id, cause_event_type FROM funnel_transitions WHERE subject_type = $1 AND subject_id = $2 ORDER BY id',
        [subjectType, subjectId],
      )
    ).rows;

  describe('POST /v1/events/funnel', () => {
    it('moves a visitor forward in the default funnel, skipping allowed', async () => {
      const first = await moveTo({ visitor_id: 'v1', stage: 'lead' }).expect(200);
      expect(first.body).toEqual({
        success: true,
        funnel: 'default',
        stage: 'lead',
        previous_stage: null,
        advanced: true,
      });
      const skip = await moveTo({ visitor_id: 'v1', stage: 'customer' }).expect(200);
      expect(skip.body).toEqual({
        success: true,
        funnel: 'default',
        stage: 'customer',
        previous_stage: 'lead',
        advanced: true,
      });
      expect(await progressOf('visitor', 'v1')).toEqual([
        { funnel: 'default', stage: 'customer', stage_index: 3 },
      ]);
    });

    it('treats a stage at or behind the current one as a no-op', async () => {
      await moveTo({ user_id: 'u1', stage: 'signup' }).expect(200);
      const behind = await moveTo({ user_id: 'u1', stage: 'lead' }).expect(200);
      expect(behind.body).toMatchObject({
        stage: 'lead',
        previous_stage: 'signup',
        advanced: false,
      });
      const same = await moveTo({ user_id: 'u1', stage: 'signup' }).expect(200);
      expect(same.body).toMatchObject({ advanced: false, previous_stage: 'signup' });
      expect(await progressOf('user', 'u1')).toEqual([
        { funnel: 'default', stage: 'signup', stage_index: 2 },
      ]);
      expect(await historyOf('user', 'u1')).toHaveLength(1);
    });

    it('answers a repeated event_id with the original outcome and changes nothing', async () => {
      const first = await moveTo({
        visitor_id: 'v2',
        stage: 'lead',
        event_id: 'req-1',
        properties: { form: 'a' },
      }).expect(200);
      await moveTo({ visitor_id: 'v2', stage: 'signup' }).expect(200);
      const again = await moveTo({ visitor_id: 'v2', stage: 'lead', event_id: 'req-1' }).expect(
        200,
      );
      expect(again.body).toEqual(first.body);
      expect(await historyOf('visitor', 'v2')).toHaveLength(2);
      const { rows } = await fixture.db.pool.query(
        "SELECT properties FROM funnel_update_requests WHERE event_id = 'req-1'",
      );
      expect(rows).toEqual([{ properties: { form: 'a' } }]);
    });

    it('answers an unknown funnel or stage with 400 naming the valid ones, and stores nothing', async () => {
      const funnel = await moveTo({ visitor_id: 'v3', funnel: 'nope', stage: 'lead' }).expect(400);
      expect(funnel.body.error.details).toEqual([
        { field: 'funnel', message: expect.stringContaining('valid funnels: default') },
      ]);
      const stage = await moveTo({ visitor_id: 'v3', stage: 'trial' }).expect(400);
      expect(stage.body.error.details).toEqual([
        { field: 'stage', message: expect.stringContaining('visit, lead, signup, customer') },
      ]);
      expect(await progressOf('visitor', 'v3')).toEqual([]);
    });

    it('lists an unknown funnel or stage with the body’s other failing fields', async () => {
      const fieldsOf = async (body: Record<string, unknown>) =>
        ((await moveTo(body).expect(400)).body.error.details as { field: string }[])
          .map((detail) => detail.field)
          .sort();
      expect(await fieldsOf({ visitor_id: '', funnel: 'nope', stage: 'x' })).toEqual([
        'funnel',
        'visitor_id',
      ]);
      expect(await fieldsOf({ visitor_id: '', stage: 'trial' })).toEqual(['stage', 'visitor_id']);
    });

    it('validates the body like tracking does', async () => {
      const response = await moveTo({ stage: 5, occurred_at: 'yesterday', extra: true }).expect(
        400,
      );
      expect(response.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
        'extra',
        'occurred_at',
        'stage',
        'visitor_id',
      ]);
    });

    it('applies the CORS allow-list, with a preflight of its own', async () => {
      const allowed = await fixture
        .http()
        .options('/v1/events/funnel')
        .set('Origin', 'https://shop.example.com')
        .set('Access-Control-Request-Method', 'POST')
        .expect(200);
      expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example.com');
      expect(allowed.headers['access-control-allow-credentials']).toBe('true');
      await fixture
        .http()
        .options('/v1/events/funnel')
        .set('Origin', 'https://evil.com')
        .expect(403);
      await post('/v1/events/funnel', { visitor_id: 'v4', stage: 'lead' })
        .set('Origin', 'https://evil.com')
        .expect(403);
      expect(await progressOf('visitor', 'v4')).toEqual([]);
    });
  });

  describe('POST /v1/events/track advances funnels', () => {
    it('moves the subject to the stage its event type reaches and reports it', async () => {
      const visit = await track({ event_type: 'page_view', visitor_id: 'v10' }).expect(200);
      expect(visit.body.funnel_updates).toEqual([
        { funnel: 'default', stage: 'visit', previous_stage: null, advanced: true },
      ]);
      const lead = await track({
        event_type: 'generate_lead',
        visitor_id: 'v10',
        event_id: 'lead-evt',
      }).expect(200);
      expect(lead.body.funnel_updates).toEqual([
        { funnel: 'default', stage: 'lead', previous_stage: 'visit', advanced: true },
      ]);
      const again = await track({ event_type: 'page_view', visitor_id: 'v10' }).expect(200);
      expect(again.body.funnel_updates).toEqual([
        { funnel: 'default', stage: 'visit', previous_stage: 'lead', advanced: false },
      ]);
      expect(await historyOf('visitor', 'v10')).toEqual([
        {
          from_stage: null,
          to_stage: 'visit',
          cause_event_id: visit.body.event_id,
          cause_event_type: 'page_view',
        },
        {
          from_stage: 'visit',
          to_stage: 'lead',
          cause_event_id: 'lead-evt',
          cause_event_type: 'generate_lead',
        },
      ]);
    });

    it('reports no funnel update for event types no stage lists, nor for duplicates', async () => {
      expect(
        (await track({ event_type: 'add_to_cart', visitor_id: 'v11' }).expect(200)).body
          .funnel_updates,
      ).toEqual([]);
      const event = anEvent({ event_type: 'sign_up', visitor_id: 'v11' });
      await post('/v1/events/track', event).expect(200);
      const duplicate = await post('/v1/events/track', event).expect(200);
      expect(duplicate.body).toMatchObject({ duplicate: true, funnel_updates: [] });
      expect(await historyOf('visitor', 'v11')).toHaveLength(1);
    });

    it('stores the event and the funnel move together or not at all', async () => {
      // A lone surrogate in the subject id passes no validation, so nothing is written anywhere.
      await track({ event_type: 'sign_up', visitor_id: 'bad\ud800' }).expect(400);
      expect(
        Number(
          (await fixture.db.pool.query('SELECT count(*) FROM funnel_transitions')).rows[0].count,
        ),
      ).toBe(0);
      expect(
        Number((await fixture.db.pool.query('SELECT count(*) FROM events')).rows[0].count),
      ).toBe(0);
    });
  });

  describe('a visitor linked to a user', () => {
    it('carries the visitor’s progress over to the user, who is counted once', async () => {
      await track({ event_type: 'page_view', visitor_id: 'anon-1' }).expect(200);
      await track({ event_type: 'generate_lead', visitor_id: 'anon-1' }).expect(200);
      const link = await track({
        event_type: 'sign_up',
        visitor_id: 'anon-1',
        user_id: 'alice',
      }).expect(200);
      expect(link.body.funnel_updates).toEqual([
        { funnel: 'default', stage: 'signup', previous_stage: 'lead', advanced: true },
      ]);

      expect(await progressOf('visitor', 'anon-1')).toEqual([]);
      expect(await progressOf('user', 'alice')).toEqual([
        { funnel: 'default', stage: 'signup', stage_index: 2 },
      ]);
      expect((await historyOf('user', 'alice')).map((t) => t.to_stage)).toEqual([
        'visit',
        'lead',
        'signup',
      ]);

      // Later anonymous events of that browser count for the user.
      const later = await track({ event_type: 'purchase', visitor_id: 'anon-1' }).expect(200);
      expect(later.body.funnel_updates).toEqual([
        { funnel: 'default', stage: 'customer', previous_stage: 'signup', advanced: true },
      ]);
      expect(await progressOf('user', 'alice')).toEqual([
        { funnel: 'default', stage: 'customer', stage_index: 3 },
      ]);
    });

    it('links them through the funnel endpoint too, when it is given both ids', async () => {
      await moveTo({ visitor_id: 'anon-3', stage: 'signup' }).expect(200);
      const both = await moveTo({ visitor_id: 'anon-3', user_id: 'carol', stage: 'visit' }).expect(
        200,
      );
      // The visitor's signup is now the user's: visit lies behind it.
      expect(both.body).toMatchObject({
        stage: 'visit',
        previous_stage: 'signup',
        advanced: false,
      });
      expect(await progressOf('visitor', 'anon-3')).toEqual([]);
      expect(await progressOf('user', 'carol')).toEqual([
        { funnel: 'default', stage: 'signup', stage_index: 2 },
      ]);
      const later = await track({ event_type: 'purchase', visitor_id: 'anon-3' }).expect(200);
      expect(later.body.funnel_updates[0]).toMatchObject({
        previous_stage: 'signup',
        advanced: true,
      });
      expect(await progressOf('user', 'carol')).toEqual([
        { funnel: 'default', stage: 'customer', stage_index: 3 },
      ]);
    });

    it('keeps the user’s further stage and the earliest first-reached times when merging', async () => {
      const early = new Date(Date.now() - 3_600_000).toISOString();
      await track({ event_type: 'purchase', user_id: 'bob', visitor_id: undefined }).expect(200);
      await track({ event_type: 'page_view', visitor_id: 'anon-2', occurred_at: early }).expect(
        200,
      );
      await track({ event_type: 'add_to_cart', visitor_id: 'anon-2', user_id: 'bob' }).expect(200);
      expect(await progressOf('user', 'bob')).toEqual([
        { funnel: 'default', stage: 'customer', stage_index: 3 },
      ]);
      const { rows } = await fixture.db.pool.query(
        "SELECT entered_at FROM funnel_progress WHERE subject_id = 'bob'",
      );
      expect(rows[0].entered_at.toISOString()).toBe(early);
    });
  });

  describe('concurrency', () => {
    it('ends at the furthest stage with a consistent history, whatever the order of parallel updates', async () => {
      const updates = Array.from({ length: 40 }, (_, i) => STAGES[i % STAGES.length]).sort(
        () => Math.random() - 0.5,
      );
      const responses = await Promise.all(
        updates.map((stage, i) =>
          i % 2 === 0
            ? moveTo({ user_id: 'carol', stage })
            : track({
                event_type: EVENT_FOR_STAGE[stage],
                user_id: 'carol',
                visitor_id: undefined,
              }),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(40).fill(200));
      expect(await progressOf('user', 'carol')).toEqual([
        { funnel: 'default', stage: 'customer', stage_index: 3 },
      ]);

      const history = await historyOf('user', 'carol');
      // Each move starts where the previous one ended, and only ever goes forward.
      history.forEach((move, i) => {
        expect(move.from_stage).toBe(i === 0 ? null : history[i - 1].to_stage);
        if (move.from_stage)
          expect(STAGES.indexOf(move.to_stage)).toBeGreaterThan(STAGES.indexOf(move.from_stage));
      });
      expect(history.at(-1)?.to_stage).toBe('customer');
      const advanced = responses.flatMap((r) =>
        (r.body.funnel_updates ?? [r.body]).filter((u: { advanced: boolean }) => u.advanced),
      );
      expect(advanced).toHaveLength(history.length);
      // Every stage met is recorded, moved to or passed by the time it arrived.
      const reached = await fixture.db.pool.query(
        "SELECT stage FROM funnel_stage_reached WHERE subject_id = 'carol'",
      );
      expect(reached.rows.map((r) => r.stage).sort()).toEqual([...STAGES].sort());
    });

    it('links a visitor to a user through tracking and the funnel endpoint at once', async () => {
      // Both paths store the link, then lock the visitor, then the user; each pair races.
      const pairs = Array.from({ length: 20 }, (_, i) => ({
        visitor_id: `racing-visitor-${i}`,
        user_id: `racing-user-${i}`,
      }));
      for (const pair of pairs) {
        await moveTo({ visitor_id: pair.visitor_id, stage: 'lead' }).expect(200);
      }
      const responses = await Promise.all(
        pairs.flatMap((pair) => [
          track({ event_type: 'sign_up', ...pair }),
          moveTo({ ...pair, stage: 'visit' }),
        ]),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(40).fill(200));
      for (const pair of pairs) {
        expect(await progressOf('visitor', pair.visitor_id)).toEqual([]);
        expect(await progressOf('user', pair.user_id)).toEqual([
          { funnel: 'default', stage: 'signup', stage_index: 2 },
        ]);
      }
    });

    it('stores one outcome for concurrent repeats of one event_id', async () => {
      const responses = await Promise.all(
        Array.from({ length: 10 }, () =>
          moveTo({ visitor_id: 'v20', stage: 'lead', event_id: 'same' }),
        ),
      );
      expect(new Set(responses.map((r) => JSON.stringify(r.body))).size).toBe(1);
      expect(await historyOf('visitor', 'v20')).toHaveLength(1);
    });
  });

  describe('events arriving out of order', () => {
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();
    const reachedOf = async (subjectType: string, subjectId: string) =>
      (
        await fixture.db.pool.query(
          `SELECT stage, reached_at, event_id FROM funnel_stage_reached
           WHERE subject_type = $1 AND subject_id = $2 ORDER BY stage_index`,
          [subjectType, subjectId],
        )
      ).rows.map((r) => ({ ...r, reached_at: r.reached_at.toISOString() }));
    const enteredAt = async (subjectType: string, subjectId: string) =>
      (
        await fixture.db.pool.query(
          'SELECT entered_at FROM funnel_progress WHERE subject_type = $1 AND subject_id = $2',
          [subjectType, subjectId],
        )
      ).rows[0]?.entered_at.toISOString();

    it('moves a batch’s person through the funnel in the order the batch gives, across a link', async () => {
      for (let run = 0; run < 6; run++) {
        const ids = { visitor_id: `batch-visitor-${run}`, user_id: `batch-user-${run}` };
        const events = [
          anEvent({
            event_type: 'page_view',
            visitor_id: ids.visitor_id,
            occurred_at: hoursAgo(4),
          }),
          anEvent({
            event_type: 'generate_lead',
            visitor_id: ids.visitor_id,
            occurred_at: hoursAgo(3),
          }),
          anEvent({ event_type: 'sign_up', ...ids, occurred_at: hoursAgo(2) }),
          anEvent({ event_type: 'purchase', visitor_id: ids.visitor_id, occurred_at: hoursAgo(1) }),
        ];
        const response = await post('/v1/events/track/batch', { events }).expect(200);

        expect(
          response.body.results.map((r: { funnel_updates: unknown[] }) => r.funnel_updates),
        ).toEqual(
          ['visit', 'lead', 'signup', 'customer'].map((stage, i) => [
            { funnel: 'default', stage, previous_stage: STAGES[i - 1] ?? null, advanced: true },
          ]),
        );
        expect(await historyOf('user', ids.user_id)).toEqual(
          events.map((event, i) => ({
            from_stage: STAGES[i - 1] ?? null,
            to_stage: STAGES[i],
            cause_event_id: event.event_id,
            cause_event_type: event.event_type,
          })),
        );
        expect((await reachedOf('user', ids.user_id)).map((r) => r.stage)).toEqual(STAGES);
      }
    });

    it('moves nothing for a linked visitor’s event behind the stage its user’s event reaches alongside it', async () => {
      for (let run = 0; run < 6; run++) {
        const ids = { visitor_id: `linked-visitor-${run}`, user_id: `linked-user-${run}` };
        await track({ event_type: 'page_view', ...ids }).expect(200);
        const events = [
          anEvent({ event_type: 'sign_up', visitor_id: undefined, user_id: ids.user_id }),
          anEvent({ event_type: 'page_view', visitor_id: ids.visitor_id }),
          anEvent({ event_type: 'purchase', visitor_id: undefined, user_id: ids.user_id }),
          anEvent({ event_type: 'page_view', visitor_id: ids.visitor_id }),
        ];
        // One batch, and the same events as concurrent single requests.
        const answers =
          run % 2 === 0
            ? (await post('/v1/events/track/batch', { events }).expect(200)).body.results
            : (
                await Promise.all(
                  events.map((event) => post('/v1/events/track', event).expect(200)),
                )
              ).map((response) => response.body);
        const advanced = answers.map(
          (answer: { funnel_updates: { advanced: boolean }[] }) =>
            answer.funnel_updates[0].advanced,
        );

        expect(advanced[1]).toBe(false);
        expect(advanced[3]).toBe(false);
        const causes = (await historyOf('user', ids.user_id)).map((row) => row.cause_event_id);
        expect(causes.slice(1).sort()).toEqual(
          events
            .filter((_, i) => advanced[i])
            .map((event) => event.event_id)
            .sort(),
        );
        expect(await progressOf('user', ids.user_id)).toEqual([
          { funnel: 'default', stage: 'customer', stage_index: 3 },
        ]);
      }
    });

    it('records when a stage behind the current one was first reached, and when the subject entered', async () => {
      const signUp = anEvent({ event_type: 'sign_up', user_id: 'late', occurred_at: hoursAgo(2) });
      const visit = anEvent({ event_type: 'page_view', user_id: 'late', occurred_at: hoursAgo(4) });
      const laterVisit = anEvent({
        event_type: 'page_view',
        user_id: 'late',
        occurred_at: hoursAgo(3),
      });
      await post('/v1/events/track', signUp).expect(200);
      const late = await post('/v1/events/track', visit).expect(200);
      await post('/v1/events/track', laterVisit).expect(200);

      // Stages still only move forward: the late visit moves nothing.
      expect(late.body.funnel_updates).toEqual([
        { funnel: 'default', stage: 'visit', previous_stage: 'signup', advanced: false },
      ]);
      expect(await progressOf('user', 'late')).toEqual([
        { funnel: 'default', stage: 'signup', stage_index: 2 },
      ]);
      expect(await reachedOf('user', 'late')).toEqual([
        { stage: 'visit', reached_at: visit.occurred_at, event_id: visit.event_id },
        { stage: 'signup', reached_at: signUp.occurred_at, event_id: signUp.event_id },
      ]);
      expect(await enteredAt('user', 'late')).toBe(visit.occurred_at);
    });
  });
});

describe('funnels, when a linked visitor’s statement runs beside its user’s', () => {
  const fixture = useAppFixture();
  const track = (overrides: Record<string, unknown>) =>
    fixture.http().post('/v1/events/track').send(anEvent(overrides));

  it('answers a linked visitor’s move that its user’s, committed meanwhile, overtook as no move from where the user stands', async () => {
    await track({ event_type: 'generate_lead', visitor_id: 'phone', user_id: 'both' }).expect(200);
    // The visitor's sign-up takes its snapshot, then waits on a key another session holds.
    const holder = await fixture.db.pool.connect();
    await holder.query('BEGIN');
    await holder.query("INSERT INTO event_ids (event_id, occurred_at) VALUES ('phone-1', now())");
    // then() sends it now; the answer is awaited below.
    const signUp = track({ event_type: 'sign_up', visitor_id: 'phone', event_id: 'phone-1' }).then(
      (response) => response,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The same user buys from a new device (the linking path, not the group commit): it
    // commits while the sign-up waits, and moves the user past it.
    const purchase = track({ event_type: 'purchase', visitor_id: 'laptop', user_id: 'both' }).then(
      (response) => response,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await holder.query('ROLLBACK');
    holder.release();
    const [signedUp, bought] = await Promise.all([signUp, purchase]);
    expect(bought.body.funnel_updates).toEqual([
      { funnel: 'default', stage: 'customer', previous_stage: 'lead', advanced: true },
    ]);
    expect(signedUp.body.funnel_updates).toEqual([
      { funnel: 'default', stage: 'signup', previous_stage: 'customer', advanced: false },
    ]);
    const { rows } = await fixture.db.pool.query(
      "SELECT from_stage, to_stage FROM funnel_transitions WHERE subject_id = 'both' ORDER BY id",
    );
    expect(rows.map((move) => [move.from_stage, move.to_stage])).toEqual([
      [null, 'lead'],
      ['lead', 'customer'],
    ]);
  });
});
