import { describe, expect, it } from 'vitest';
import { buildNewEvent } from '../src/tracking/new-event';
import { EventBatcher } from '../src/tracking/event-batcher';
import { TrackEventDto } from '../src/tracking/dto/track-event.dto';
import { useAppFixture } from './support/app-fixture';
import { MetricsService } from '../src/metrics/metrics.service';
import { TrackingService } from '../src/tracking/tracking.service';

const request = { ip: '203.0.113.9', userAgent: 'test', origin: undefined, receivedAt: new Date() };
const event = (fields: Partial<TrackEventDto>) =>
  buildNewEvent(
    { event_type: 'page_view', ...fields },
    {
      ...request,
      receivedAt: new Date(),
    },
  );
const visit = [{ funnel: 'default', stage: 'visit', stageIndex: 0 }];
const signup = [{ funnel: 'default', stage: 'signup', stageIndex: 2 }];
const customer = [{ funnel: 'default', stage: 'customer', stageIndex: 3 }];

describe('group commit', () => {
  const fixture = useAppFixture({ TRACK_BATCH_MAX_WAIT_MS: '20' });
  const count = async (table: string) =>
    Number((await fixture.db.pool.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
  /** Groups retried one by one so far, with the SQLSTATE given, or all of them. */
  const retries = async (sqlstate?: string) =>
    (await fixture.app.get(MetricsService).trackGroupRetries.get()).values
      .filter(({ labels }) => sqlstate === undefined || labels.sqlstate === sqlstate)
      .reduce((sum, { value }) => sum + value, 0);

  it('stores a group of events with one statement, each answered with its own outcome', async () => {
    const batcher = fixture.app.get(EventBatcher);
    const events = Array.from({ length: 30 }, (_, i) =>
      event({ visitor_id: `g-${i}`, event_id: `group-${i}` }),
    );
    const outcomes = await Promise.all(
      events.map((e) => batcher.track({ event: e, targets: visit })),
    );
    expect(outcomes.every((o) => o.stored && o.funnelUpdates[0]?.advanced)).toBe(true);
    expect(await count("events WHERE event_id LIKE 'group-%'")).toBe(30);
  });

  it('keeps a repeated event_id for a later group, so the first is stored and the second is a duplicate', async () => {
    const batcher = fixture.app.get(EventBatcher);
    const first = event({ visitor_id: 'dup-v', event_id: 'dup-1' });
    const second = event({ visitor_id: 'dup-v2', event_id: 'dup-1' });
    const [a, b] = await Promise.all([
      batcher.track({ event: first, targets: [] }),
      batcher.track({ event: second, targets: [] }),
    ]);
    expect([a.stored, b.stored]).toEqual([true, false]);
    expect(await count("events WHERE event_id = 'dup-1'")).toBe(1);
  });

  it('falls back to one statement per event when a group fails, so no event fails for another', async () => {
    // The visitor is linked to the user, so both events move the same funnel row: PostgreSQL
    // refuses that within one statement, and each event is then stored on its own.
    await fixture.db.pool.query(
      "INSERT INTO identity_links (visitor_id, user_id) VALUES ('fb-visitor', 'fb-user')",
    );
    const batcher = fixture.app.get(EventBatcher);
    const retriedBefore = await retries('21000');
    const [byVisitor, byUser] = await Promise.all([
      batcher.track({
        event: event({ visitor_id: 'fb-visitor', event_id: 'fb-1' }),
        targets: visit,
      }),
      batcher.track({
        event: event({ user_id: 'fb-user', event_type: 'sign_up', event_id: 'fb-2' }),
        targets: signup,
      }),
    ]);
    expect(byVisitor.stored && byUser.stored).toBe(true);
    expect(await retries('21000')).toBe(retriedBefore + 1);
    const { rows } = await fixture.db.pool.query(
      "SELECT stage FROM funnel_progress WHERE subject_type = 'user' AND subject_id = 'fb-user'",
    );
    expect(rows).toEqual([{ stage: 'signup' }]);
    expect(await count("funnel_transitions WHERE subject_id = 'fb-user'")).toBe(2);
  });

  it('keeps a visitor it linked here apart from its user’s group, so their moves need no one-by-one retry', async () => {
    const tracking = fixture.app.get(TrackingService);
    // Links the pair through this process, without moving a funnel.
    await tracking.track(
      { visitor_id: 'kl-visitor', user_id: 'kl-user', event_type: 'login' },
      request,
    );
    const before = await retries();
    // Both resolve to the user and both would create its funnel row: in one statement, PostgreSQL
    // would refuse the second write of that row and the group would be retried one by one.
    const [byVisitor, byUser] = await Promise.all([
      tracking.track({ visitor_id: 'kl-visitor', event_type: 'page_view' }, request),
      tracking.track({ user_id: 'kl-user', event_type: 'sign_up' }, request),
    ]);
    expect(await retries()).toBe(before);
    expect(byVisitor.funnel_updates).toEqual([
      { funnel: 'default', stage: 'visit', previous_stage: null, advanced: true },
    ]);
    expect(byUser.funnel_updates).toEqual([
      { funnel: 'default', stage: 'signup', previous_stage: 'visit', advanced: true },
    ]);
  });

  it('learns the visitor’s user from a link stored before this process started, too', async () => {
    const tracking = fixture.app.get(TrackingService);
    // As after a restart: the link exists, so this process's first event of the pair makes none.
    await fixture.db.pool.query(
      "INSERT INTO identity_links (visitor_id, user_id) VALUES ('kl2-visitor', 'kl2-user')",
    );
    await tracking.track(
      { visitor_id: 'kl2-visitor', user_id: 'kl2-user', event_type: 'login' },
      request,
    );
    const before = await retries();
    await Promise.all([
      tracking.track({ visitor_id: 'kl2-visitor', event_type: 'page_view' }, request),
      tracking.track({ user_id: 'kl2-user', event_type: 'sign_up' }, request),
    ]);
    expect(await retries()).toBe(before);
  });

  it('answers a linked visitor’s event behind its user’s stage as no move, beside the user’s move in one group', async () => {
    await fixture.db.pool.query(
      "INSERT INTO identity_links (visitor_id, user_id) VALUES ('nm-visitor', 'nm-user')",
    );
    const batcher = fixture.app.get(EventBatcher);
    await batcher.track({ event: event({ user_id: 'nm-user', event_id: 'nm-0' }), targets: visit });
    const [byUser, byVisitor] = await Promise.all([
      batcher.track({
        event: event({ user_id: 'nm-user', event_type: 'sign_up', event_id: 'nm-1' }),
        targets: signup,
      }),
      batcher.track({
        event: event({ visitor_id: 'nm-visitor', event_id: 'nm-2' }),
        targets: visit,
      }),
    ]);
    expect(byUser.funnelUpdates).toEqual([
      { funnel: 'default', stage: 'signup', previous_stage: 'visit', advanced: true },
    ]);
    expect(byVisitor.funnelUpdates[0]?.advanced).toBe(false);
    const { rows } = await fixture.db.pool.query(
      "SELECT cause_event_id FROM funnel_transitions WHERE subject_id = 'nm-user' ORDER BY id",
    );
    expect(rows.map((row) => row.cause_event_id)).toEqual(['nm-0', 'nm-1']);
  });
});

describe('group commit with groups in flight', () => {
  const fixture = useAppFixture({ TRACK_BATCH_MAX_WAIT_MS: '0' });

  it('keeps a subject’s later events out of groups while one of its groups is in flight, so they commit in arrival order', async () => {
    const batcher = fixture.app.get(EventBatcher);
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();
    const subjects = Array.from({ length: 10 }, (_, i) => `inflight-${i}`);
    // Every statement waits on this lock after taking its snapshot, so two groups in flight
    // at once would both read the tables as they were before either committed.
    const holder = await fixture.db.pool.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE event_ids IN SHARE ROW EXCLUSIVE MODE');
    const tracked = Promise.all(
      subjects.flatMap((visitor) => [
        batcher.track({
          event: event({ visitor_id: visitor, event_type: 'sign_up', occurred_at: hoursAgo(1) }),
          targets: signup,
        }),
        // Arrives second but happened first: its statement must see the sign-up's row, and
        // move the subject's entry back to it.
        batcher.track({
          event: event({ visitor_id: visitor, occurred_at: hoursAgo(2) }),
          targets: visit,
        }),
      ]),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await holder.query('COMMIT');
    holder.release();
    await tracked;
    const { rows } = await fixture.db.pool.query<{ subject_id: string; late: boolean }>(
      `SELECT p.subject_id, p.entered_at > r.reached_at AS late
       FROM funnel_progress p JOIN funnel_stage_reached r USING (funnel, subject_type, subject_id)
       WHERE r.stage = 'visit' AND p.subject_id LIKE 'inflight-%'`,
    );
    expect(rows).toHaveLength(10);
    expect(rows.filter((row) => row.late)).toEqual([]);
  });

  it('keeps a later event behind an earlier one it shares a subject with, even when the earlier waits on another key', async () => {
    const batcher = fixture.app.get(EventBatcher);
    // A key another transaction holds uncommitted: the group that claims it waits in flight.
    const holder = await fixture.db.pool.connect();
    await holder.query('BEGIN');
    await holder.query("INSERT INTO event_ids (event_id, occurred_at) VALUES ('order-0', now())");
    const first = batcher.track({
      event: event({ visitor_id: 'order-v', user_id: 'order-other', event_id: 'order-0' }),
      targets: visit,
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Held back by the visitor the group in flight holds; the user's purchase comes after it.
    const signedUp = batcher.track({
      event: event({ visitor_id: 'order-v', user_id: 'order-u', event_type: 'sign_up' }),
      targets: signup,
    });
    const bought = batcher.track({
      event: event({ user_id: 'order-u', event_type: 'purchase' }),
      targets: customer,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await holder.query('ROLLBACK');
    holder.release();
    await Promise.all([first, signedUp, bought]);
    const { rows } = await fixture.db.pool.query(
      "SELECT from_stage, to_stage FROM funnel_transitions WHERE subject_id = 'order-u' ORDER BY id",
    );
    expect(rows).toEqual([
      { from_stage: null, to_stage: 'signup' },
      { from_stage: 'signup', to_stage: 'customer' },
    ]);
  });

  it('moves a subject’s entry back to a linked visitor’s earlier event whose statement ran beside its user’s later one', async () => {
    const batcher = fixture.app.get(EventBatcher);
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();
    await fixture.db.pool.query(
      "INSERT INTO identity_links (visitor_id, user_id) VALUES ('entry-v', 'entry-u')",
    );
    // The visitor's statement takes its snapshot, then waits on a key another session holds.
    const holder = await fixture.db.pool.connect();
    await holder.query('BEGIN');
    await holder.query("INSERT INTO event_ids (event_id, occurred_at) VALUES ('entry-1', now())");
    const visited = batcher.track({
      event: event({ visitor_id: 'entry-v', event_id: 'entry-1', occurred_at: hoursAgo(2) }),
      targets: visit,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Keyed by the user, not the visitor: it runs at once, and commits first.
    const signedUp = batcher.track({
      event: event({ user_id: 'entry-u', event_type: 'sign_up', occurred_at: hoursAgo(1) }),
      targets: signup,
    });
    await signedUp;
    await holder.query('ROLLBACK');
    holder.release();
    await visited;
    const { rows } = await fixture.db.pool.query(
      `SELECT p.stage, p.entered_at = r.reached_at AS entered_at_visit
       FROM funnel_progress p JOIN funnel_stage_reached r USING (funnel, subject_type, subject_id)
       WHERE r.stage = 'visit' AND p.subject_id = 'entry-u'`,
    );
    expect(rows).toEqual([{ stage: 'signup', entered_at_visit: true }]);
  });
});

describe('group commit with more events waiting than TRACK_MAX_PENDING_EVENTS', () => {
  const fixture = useAppFixture({ TRACK_MAX_PENDING_EVENTS: '3', RATE_LIMIT_PER_MINUTE: '0' });

  it('refuses the events past it at once with 503 overloaded, stores the others, and takes events again once they are stored', async () => {
    const batcher = fixture.app.get(EventBatcher);
    const send = (eventId: string) =>
      fixture
        .http()
        .post('/v1/events/track')
        .send({ event_type: 'page_view', visitor_id: `v-${eventId}`, event_id: eventId });
    // Statements wait on this lock: the first three events stay queued or in flight.
    const holder = await fixture.db.pool.connect();
    let waiting: Promise<{ status: number }[]>;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE event_ids IN SHARE ROW EXCLUSIVE MODE');
      waiting = Promise.all(['held-1', 'held-2', 'held-3'].map((id) => send(id).then((r) => r)));
      await expect.poll(() => batcher.pendingEvents).toBe(3);

      const refused = await send('refused-1');
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body).toMatchObject({ success: false, error: { code: 'overloaded' } });
      const batch = await fixture
        .http()
        .post('/v1/events/track/batch')
        .send({
          events: [
            { event_type: 'page_view', visitor_id: 'v-b', event_id: 'refused-2' },
            { event_type: 'page_view', visitor_id: 'v-b', event_id: 'refused-3' },
          ],
        });
      expect(batch.status).toBe(503);
      expect(batch.body.error.code).toBe('overloaded');
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect((await waiting).map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(batcher.pendingEvents).toBe(0);
    expect((await send('after-1')).status).toBe(200);
    const { rows } = await fixture.db.pool.query<{ event_id: string }>(
      'SELECT event_id FROM events ORDER BY event_id',
    );
    expect(rows.map((row) => row.event_id)).toEqual(['after-1', 'held-1', 'held-2', 'held-3']);
  });
});
