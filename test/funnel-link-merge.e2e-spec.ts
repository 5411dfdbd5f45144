import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { LinkMergeSweeper } from '../src/funnel/link-merge-sweeper';
import { subjectLockKey } from '../src/funnel/subject';
import { anEvent } from './support/event-factory';
import { useAppFixture } from './support/app-fixture';

// A grouped track statement for a visitor alone that began before the visitor's first
// link committed takes the visitor for its subject, and may move it after the linking
// transaction merged it into the user. The merge is recorded and done again once no
// such statement can still run.
describe('visitors merged into their user again after racing statements', () => {
  const fixture = useAppFixture();
  beforeEach(() => fixture.reset());

  const track = (overrides: Record<string, unknown>) =>
    fixture
      .http()
      .post('/v1/events/track')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(anEvent(overrides)));
  const rowsOf = async (table: string, subjectType: string, subjectId: string) =>
    (
      await fixture.db.pool.query(
        `SELECT ${table === 'funnel_transitions' ? 'to_stage' : 'stage'} AS stage FROM ${table}
         WHERE subject_type = $1 AND subject_id = $2 ORDER BY 1`,
        [subjectType, subjectId],
      )
    ).rows.map((row: { stage: string }) => row.stage);
  const pendingMerges = async () =>
    (await fixture.db.pool.query('SELECT count(*)::int AS n FROM funnel_link_merges')).rows[0].n;
  const sweepUntilNoMergeIsPending = () =>
    expect
      .poll(
        async () => {
          await fixture.app.get(LinkMergeSweeper).sweep();
          return pendingMerges();
        },
        { timeout: 10_000, interval: 250 },
      )
      .toBe(0);
  /** What a racing statement leaves: the visitor moved on its own after the merge. */
  const moveVisitorBehindTheMerge = (visitorId: string) =>
    fixture.db.pool.query(
      `WITH progress AS (
         INSERT INTO funnel_progress (funnel, subject_type, subject_id, stage_index, stage, previous_stage, entered_at, updated_at)
         VALUES ('default', 'visitor', $1, 3, 'customer', NULL, now(), now())
       ), reached AS (
         INSERT INTO funnel_stage_reached (funnel, subject_type, subject_id, stage, stage_index, reached_at, event_id)
         VALUES ('default', 'visitor', $1, 'customer', 3, now(), $2)
       )
       INSERT INTO funnel_transitions (funnel, subject_type, subject_id, from_stage, to_stage, cause_event_id, cause_event_type, occurred_at)
       VALUES ('default', 'visitor', $1, NULL, 'customer', $2, 'purchase', now())`,
      [visitorId, randomUUID()],
    );

  it('merges a visitor whose known link was gone (retention) once a signed-in event makes it again', async () => {
    const visitor = `v_${randomUUID()}`;
    const user = `u_${randomUUID()}`;
    await track({ event_type: 'sign_up', visitor_id: visitor, user_id: user }).expect(200);
    await sweepUntilNoMergeIsPending();
    // What retention does to a link with no event left; this process still knows the pair.
    await fixture.db.pool.query('DELETE FROM identity_links WHERE visitor_id = $1', [visitor]);
    await track({ event_type: 'generate_lead', visitor_id: visitor, user_id: null }).expect(200);
    expect(await rowsOf('funnel_progress', 'visitor', visitor)).toEqual(['lead']);

    await track({ event_type: 'page_view', visitor_id: visitor, user_id: user }).expect(200);
    await sweepUntilNoMergeIsPending();
    expect(await rowsOf('funnel_progress', 'visitor', visitor)).toEqual([]);
    expect(await rowsOf('funnel_progress', 'user', user)).toEqual(['signup']);
  });

  it('waits while a snapshot older than the link is in use, then carries the visitor over', async () => {
    const visitor = `v_${randomUUID()}`;
    const user = `u_${randomUUID()}`;
    // A snapshot taken before the link committed, still in use: it could be a racer's.
    const older = new pg.Client({ connectionString: fixture.db.url });
    await older.connect();
    try {
      await older.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await older.query('SELECT 1');
      await track({ event_type: 'page_view', visitor_id: visitor, user_id: user }).expect(200);
      await moveVisitorBehindTheMerge(visitor);
      expect(await pendingMerges()).toBe(1);

      expect(await fixture.app.get(LinkMergeSweeper).sweep()).toBe(0);
      expect(await rowsOf('funnel_progress', 'visitor', visitor)).toEqual(['customer']);
      expect(await pendingMerges()).toBe(1);

      await older.query('COMMIT');
    } finally {
      await older.end();
    }
    await sweepUntilNoMergeIsPending();
    for (const table of ['funnel_progress', 'funnel_stage_reached', 'funnel_transitions']) {
      expect(await rowsOf(table, 'visitor', visitor), table).toEqual([]);
    }
    expect(await rowsOf('funnel_progress', 'user', user)).toEqual(['customer']);
    expect(await rowsOf('funnel_stage_reached', 'user', user)).toEqual(['customer', 'visit']);
  });

  it('skips a merge another replica is taking, rather than wait for it', async () => {
    const pairs = Array.from({ length: 2 }, () => ({
      visitor: `v_${randomUUID()}`,
      user: `u_${randomUUID()}`,
    }));
    for (const { visitor, user } of pairs) {
      await track({ event_type: 'page_view', visitor_id: visitor, user_id: user }).expect(200);
      await moveVisitorBehindTheMerge(visitor);
    }
    const [taken, free] = pairs;
    const otherReplica = new pg.Client({ connectionString: fixture.db.url });
    await otherReplica.connect();
    try {
      await otherReplica.query('BEGIN');
      await otherReplica.query(
        'SELECT 1 FROM funnel_link_merges WHERE visitor_id = $1 FOR UPDATE',
        [taken.visitor],
      );
      const swept = await Promise.race([
        fixture.app.get(LinkMergeSweeper).sweep(),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 3 s'), 3_000)),
      ]);
      expect(swept).toBe(1);
      expect(await rowsOf('funnel_progress', 'visitor', free.visitor)).toEqual([]);
      expect(await rowsOf('funnel_progress', 'visitor', taken.visitor)).toEqual(['customer']);
      await otherReplica.query('ROLLBACK');
    } finally {
      await otherReplica.end();
    }
    await sweepUntilNoMergeIsPending();
    expect(await rowsOf('funnel_progress', 'visitor', taken.visitor)).toEqual([]);
    expect(await rowsOf('funnel_progress', 'user', taken.user)).toEqual(['customer']);
  });

  it('leaves no visitor behind when its events race its first link', async () => {
    const pairs = Array.from({ length: 40 }, () => ({
      visitor: `v_${randomUUID()}`,
      user: `u_${randomUUID()}`,
    }));
    await Promise.all(
      pairs.flatMap(({ visitor, user }) => [
        track({ event_type: 'purchase', visitor_id: visitor }).expect(200),
        track({ event_type: 'page_view', visitor_id: visitor, user_id: user }).expect(200),
      ]),
    );
    await sweepUntilNoMergeIsPending();
    for (const { visitor, user } of pairs) {
      expect(await rowsOf('funnel_progress', 'visitor', visitor)).toEqual([]);
      expect(await rowsOf('funnel_progress', 'user', user)).toEqual(['customer']);
    }
  });

  it('moves the user, not the visitor, when an explicit update waited for the link', async () => {
    const visitor = `v_${randomUUID()}`;
    const user = `u_${randomUUID()}`;
    // Holds the visitor's lock as a linking transaction does, and links it meanwhile.
    const linking = new pg.Client({ connectionString: fixture.db.url });
    await linking.connect();
    try {
      await linking.query('BEGIN');
      await linking.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        subjectLockKey({ type: 'visitor', id: visitor }),
      ]);
      const update = fixture
        .http()
        .post('/v1/events/funnel')
        .set('Content-Type', 'application/json')
        .send(JSON.stringify({ visitor_id: visitor, stage: 'lead' }))
        .then((response) => response);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await linking.query('INSERT INTO identity_links (visitor_id, user_id) VALUES ($1, $2)', [
        visitor,
        user,
      ]);
      await linking.query('COMMIT');
      expect((await update).status).toBe(200);
    } finally {
      await linking.end();
    }
    expect(await rowsOf('funnel_progress', 'visitor', visitor)).toEqual([]);
    expect(await rowsOf('funnel_progress', 'user', user)).toEqual(['lead']);
  });
});
