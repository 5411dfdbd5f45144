import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { Database, Sql } from '../src/persistence/database';
import {
  DerivedStateRepository,
  DerivedTableName,
  WalkPosition,
} from '../src/retention/derived-state.repository';
import { EventPartitionMaintenance } from '../src/retention/event-partition-maintenance';
import { EventPartitionsRepository } from '../src/retention/event-partitions.repository';
import { StrayEventsRepository } from '../src/retention/stray-events.repository';
import { useAppFixture } from './support/app-fixture';
import { anEvent } from './support/event-factory';

const KEY = 'partition-key-0123456789';
const DAY_MS = 86_400_000;
const RETENTION_DAYS = 90;

const monthStart = (date: Date, months = 0) =>
  new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, 1));
const partitionOf = (date: Date) =>
  `events_${date.getUTCFullYear()}_${String(date.getUTCMonth() + 1).padStart(2, '0')}`;

describe('events partitioned by month', () => {
  const fixture = useAppFixture({
    API_KEYS: KEY,
    RATE_LIMIT_PER_MINUTE: '0',
    // Events from months back may be sent here, so that they land in older partitions.
    TRACK_MAX_EVENT_AGE_HOURS: String(24 * RETENTION_DAYS),
    EVENT_RETENTION_DAYS: String(RETENTION_DAYS),
  });
  const maintenance = () => fixture.app.get(EventPartitionMaintenance);
  const track = (event: Record<string, unknown>) =>
    fixture.http().post('/v1/events/track').send(event);
  const partitions = async () =>
    (
      await fixture.db.pool.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass ORDER BY 1`,
      )
    ).rows.map((row) => row.name);
  /** The conversions report over the 80 days up to `now`. */
  const lastEightyDays = async (now: Date) => {
    const day = (date: Date) => date.toISOString().slice(0, 10);
    const range = `start_date=${day(new Date(now.getTime() - 80 * DAY_MS))}&end_date=${day(now)}`;
    const response = await fixture
      .http()
      .get(`/v1/events/conversions?${range}`)
      .set('X-API-Key', KEY)
      .expect(200);
    return response.body;
  };
  /** Now, and a day of last month, whose partition is made again if a test before dropped it. */
  const lastMonthAgain = async () => {
    const now = new Date();
    await maintenance().maintain(now);
    return { now, lastMonth: new Date(monthStart(now).getTime() - 10 * DAY_MS) };
  };
  const rowsIn = async (table: string) =>
    (await fixture.db.pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number;

  /** A move of the oldest stray month that stopped after copying what the default then held. */
  const copiedSoFar = async () => {
    const repository = fixture.app.get(StrayEventsRepository);
    const database = fixture.app.get(Database);
    const month = (await repository.oldestStrayMonth(database, null))!;
    await database.transaction((sql) => repository.stage(sql, month));
    const copiedTo = await repository.blocksOfDefault(database);
    await database.transaction((sql) => repository.copyStrays(sql, month, 0, copiedTo));
    return { repository, database, month, copiedTo };
  };

  beforeEach(async () => {
    // The pass every start runs in the background would otherwise move or make what a test sets up.
    await maintenance()['running'];
    await fixture.reset();
    await fixture.db.pool.query('TRUNCATE event_ids');
  });

  it('creates the months ahead, and is safe to run again', async () => {
    const now = new Date();
    const first = await maintenance().maintain(now);
    const names = await partitions();
    for (let month = 0; month <= 3; month++)
      expect(names).toContain(partitionOf(monthStart(now, month)));
    expect(names).toContain('events_default');
    expect((await maintenance().maintain(now)).created).toBe(0);
    expect(first.dropped).toEqual([]);
  });

  it('stores one event per event_id across months, even sent at once', async () => {
    await maintenance().maintain();
    const eventId = randomUUID();
    const now = new Date();
    const monthsAgo = new Date(now.getTime() - 45 * DAY_MS);
    const copies = [now, monthsAgo, now, monthsAgo].map((at) =>
      track(anEvent({ event_id: eventId, occurred_at: at.toISOString() })),
    );
    const answers = await Promise.all(copies);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(answers.filter((a) => a.body.duplicate === false)).toHaveLength(1);
    const { rows } = await fixture.db.pool.query(
      'SELECT count(*)::int AS n FROM events WHERE event_id = $1',
      [eventId],
    );
    expect(rows[0].n).toBe(1);
    // And later, into the other month: still a duplicate.
    const later = await track(anEvent({ event_id: eventId, occurred_at: monthsAgo.toISOString() }));
    expect(later.body.duplicate).toBe(true);
  });

  it('moves events that fell into the default partition into their month', async () => {
    const old = new Date(Date.now() - 80 * DAY_MS);
    await fixture.db.pool.query(`DROP TABLE IF EXISTS ${partitionOf(old)}`);
    await track(anEvent({ occurred_at: old.toISOString() })).expect(200);
    expect(await rowsIn('events_default')).toBe(1);
    await maintenance().maintain();
    expect(await rowsIn('events_default')).toBe(0);
    expect(await rowsIn(partitionOf(old))).toBe(1);
  });

  it('moves strays whose partition index names are taken, keeping the names of the copy', async () => {
    const old = new Date(Date.now() - 80 * DAY_MS);
    await fixture.db.pool.query(`DROP TABLE IF EXISTS ${partitionOf(old)}`);
    // As a month's table that a drop left unfinished keeps them.
    await fixture.db.pool.query(
      `CREATE TABLE names_taken (id int); CREATE UNIQUE INDEX ${partitionOf(old)}_pkey ON names_taken (id)`,
    );
    try {
      await track(anEvent({ occurred_at: old.toISOString() })).expect(200);
      await maintenance().maintain();
      expect(await rowsIn(partitionOf(old))).toBe(1);
      const { rows } = await fixture.db.pool.query(
        `SELECT 1 FROM pg_indexes WHERE tablename = $1 AND indexname = $2`,
        [partitionOf(old), `moving_${partitionOf(old)}_pkey`],
      );
      expect(rows).toHaveLength(1);
    } finally {
      await fixture.db.pool.query('DROP TABLE names_taken');
    }
  });

  it('moves strays without holding events: inserts into other months go on meanwhile', async () => {
    const old = new Date(Date.now() - 80 * DAY_MS);
    await fixture.db.pool.query(`DROP TABLE IF EXISTS ${partitionOf(old)}`);
    for (let n = 0; n < 3; n++)
      await track(anEvent({ occurred_at: old.toISOString() })).expect(200);
    expect(await rowsIn('events_default')).toBe(3);
    const inserting = await fixture.db.pool.connect();
    try {
      // What an insert into this month holds until it commits: detaching the default
      // partition, as the move once did, waited for it and gave up.
      await inserting.query('BEGIN');
      await inserting.query(
        `LOCK TABLE ONLY events, ${partitionOf(new Date())} IN ROW EXCLUSIVE MODE`,
      );
      // Two replicas at once: each goes through, and the rows move once.
      await Promise.all([maintenance().maintain(), maintenance().maintain()]);
      await track(anEvent()).expect(200);
    } finally {
      await inserting.query('ROLLBACK');
      inserting.release();
    }
    expect(await rowsIn('events_default')).toBe(0);
    expect(await rowsIn(partitionOf(old))).toBe(3);
  });

  it('leaves a move that another replica finished while this one was copying', async () => {
    const old = new Date(Date.now() - 80 * DAY_MS);
    await fixture.db.pool.query(`DROP TABLE IF EXISTS ${partitionOf(old)}`);
    for (let n = 0; n < 3; n++)
      await track(anEvent({ occurred_at: old.toISOString() })).expect(200);
    const repository = fixture.app.get(StrayEventsRepository);
    const database = fixture.app.get(Database);
    // The other replica finishes between this one's staging and its first copy.
    const copyStrays = repository.copyStrays.bind(repository);
    const spy = vi
      .spyOn(repository, 'copyStrays')
      .mockImplementationOnce(async (sql, month, from, to) => {
        await database.longTransaction((other) => repository.finishMove(other, month, 0));
        return copyStrays(sql, month, from, to);
      });
    try {
      await maintenance().maintain();
    } finally {
      spy.mockRestore();
    }
    expect(await rowsIn('events_default')).toBe(0);
    expect(await rowsIn(partitionOf(old))).toBe(3);
  });

  it('finishes a move with the strays that came since its copy, once when two replicas finish it', async () => {
    const old = new Date(Date.now() - 80 * DAY_MS);
    await fixture.db.pool.query(`DROP TABLE IF EXISTS ${partitionOf(old)}`);
    const sent = async (count: number) => {
      for (let n = 0; n < count; n++)
        await track(anEvent({ occurred_at: old.toISOString() })).expect(200);
    };
    await sent(2);
    const { repository, database, month, copiedTo } = await copiedSoFar();
    expect(month.name).toBe(partitionOf(old));
    expect(await rowsIn(`moving_${partitionOf(old)}`)).toBe(2);
    // In the block copied already, and as many rows as were copied: only comparing the
    // copy's rows with the month's finds it, and a row changed or deleted since (an
    // operator mending an import).
    await sent(1);
    expect(await repository.blocksOfDefault(database)).toBe(copiedTo);
    const { rows: copied } = await fixture.db.pool.query<{ id: string }>(
      'SELECT id FROM events_default ORDER BY ctid LIMIT 2',
    );
    await fixture.db.pool.query(`UPDATE events_default SET campaign = 'mended' WHERE id = $1`, [
      copied[0].id,
    ]);
    await fixture.db.pool.query('DELETE FROM events_default WHERE id = $1', [copied[1].id]);

    const finished = await Promise.all(
      [1, 2].map(() =>
        database.longTransaction((sql) => repository.finishMove(sql, month, copiedTo)),
      ),
    );
    expect(finished.sort()).toEqual([false, true]);
    expect(await rowsIn('events_default')).toBe(0);
    const moved = await fixture.db.pool.query<{ campaign: string | null }>(
      `SELECT campaign FROM ${partitionOf(old)} ORDER BY campaign`,
    );
    expect(moved.rows.map((row) => row.campaign)).toEqual(['black_friday', 'mended']);
    const { rows } = await fixture.db.pool.query<{ name: string }>(
      `SELECT relname AS name FROM pg_class WHERE relname LIKE 'moving%' ORDER BY 1`,
    );
    expect(rows).toEqual([]);
  });

  it('compares and syncs the copy without a statement timeout: they read the whole month', async () => {
    const old = new Date(Date.now() - 80 * DAY_MS);
    await fixture.db.pool.query(`DROP TABLE IF EXISTS ${partitionOf(old)}`);
    await track(anEvent({ occurred_at: old.toISOString() })).expect(200);
    const repository = fixture.app.get(StrayEventsRepository);
    const timeouts: Record<'compare' | 'sync', string[]> = { compare: [], sync: [] };
    const matched: boolean[] = [];
    const timeoutIn = async (sql: Sql) =>
      (await sql.query<{ statement_timeout: string }>('SHOW statement_timeout'))[0]
        .statement_timeout;
    const compare = repository.copyMatches.bind(repository);
    const sync = repository.syncCopy.bind(repository);
    const compares = vi.spyOn(repository, 'copyMatches').mockImplementation(async (sql, month) => {
      timeouts.compare.push(await timeoutIn(sql));
      // Mended between the copy and its first comparison: the unlocked pass must sync it.
      if (timeouts.compare.length === 1)
        await fixture.db.pool.query(`UPDATE events_default SET campaign = 'mended'`);
      const same = await compare(sql, month);
      matched.push(same);
      return same;
    });
    const syncs = vi.spyOn(repository, 'syncCopy').mockImplementation(async (sql, month) => {
      timeouts.sync.push(await timeoutIn(sql));
      return sync(sql, month);
    });
    try {
      await maintenance().maintain();
    } finally {
      compares.mockRestore();
      syncs.mockRestore();
    }
    // The unlocked pass, which found the mended row and synced it, then the last step's.
    expect(timeouts).toEqual({ compare: ['0', '0'], sync: ['0'] });
    expect(matched).toEqual([false, true]);
    const { rows } = await fixture.db.pool.query(`SELECT campaign FROM ${partitionOf(old)}`);
    expect(rows).toEqual([{ campaign: 'mended' }]);
  });

  it('sets the copy equal once when two replicas sync it at once, neither failing', async () => {
    const old = new Date(Date.now() - 80 * DAY_MS);
    await fixture.db.pool.query(`DROP TABLE IF EXISTS ${partitionOf(old)}`);
    for (let n = 0; n < 2; n++)
      await track(anEvent({ occurred_at: old.toISOString() })).expect(200);
    const { repository, database, month, copiedTo } = await copiedSoFar();
    const moving = `moving_${partitionOf(old)}`;
    await fixture.db.pool.query(
      `DELETE FROM ${moving} WHERE ctid = (SELECT min(ctid) FROM ${moving})`,
    );
    let other: Promise<void> | undefined;
    await database.longTransaction(async (sql) => {
      await repository.syncCopy(sql, month);
      // The other replica's insert of the same missing row waits for this one's commit.
      other = database.longTransaction((otherSql) => repository.syncCopy(otherSql, month));
      await expect
        .poll(
          async () => {
            const { rows } = await fixture.db.pool.query(
              `SELECT 1 FROM pg_stat_activity
             WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0`,
            );
            return rows.length;
          },
          { timeout: 10_000 },
        )
        .toBe(1);
    });
    await other;
    expect(await rowsIn(moving)).toBe(2);
    expect(await repository.copyMatches(database, month)).toBe(true);
    expect(
      await database.longTransaction((sql) => repository.finishMove(sql, month, copiedTo)),
    ).toBe(true);
    expect(await rowsIn(partitionOf(old))).toBe(2);
  });

  it('moves this month out of the default partition while it is tracked into, losing no event', async () => {
    const now = new Date();
    await fixture.db.pool.query(`DROP TABLE ${partitionOf(now)}`);
    await track(anEvent()).expect(200);
    const { repository, database, month, copiedTo } = await copiedSoFar();
    expect(month.name).toBe(partitionOf(now));
    let during: Promise<unknown> | undefined;
    await database.longTransaction(async (sql) => {
      expect(await repository.finishMove(sql, month, copiedTo)).toBe(true);
      // Events routed to the default partition now wait for the attach to commit: one
      // through the group commit, one that links a visitor to a user (a path of its own).
      during = Promise.all(
        [anEvent(), anEvent({ visitor_id: 'moving-visitor', user_id: 'moving-user' })].map(
          (event) => track(event).then((response) => response.status),
        ),
      );
      await expect
        .poll(async () => {
          const { rows } = await fixture.db.pool.query(
            `SELECT 1 FROM pg_locks WHERE relation = 'events_default'::regclass AND NOT granted`,
          );
          return rows.length;
        })
        .toBe(2);
    });
    expect(await during).toEqual([200, 200]);
    expect(await rowsIn('events_default')).toBe(0);
    expect(await rowsIn(partitionOf(now))).toBe(3);
  });

  it('refuses to move a month whose name a table holds that is not its partition, and moves the rest', async () => {
    const old = new Date(Date.now() - 80 * DAY_MS);
    const newer = new Date(Date.now() - 50 * DAY_MS);
    await maintenance().maintain();
    await fixture.db.pool.query(`ALTER TABLE events DETACH PARTITION ${partitionOf(old)}`);
    await fixture.db.pool.query(`DROP TABLE ${partitionOf(newer)}`);
    for (const at of [old, newer])
      await track(anEvent({ occurred_at: at.toISOString() })).expect(200);
    // And dates an import gone wrong gives: years of fewer than four digits (two-digit
    // years stored as such, which JavaScript's dates would read as 19xx or 20xx), and the
    // last month, whose end only PostgreSQL can write (it stays in the default partition).
    await fixture.db.pool.query(
      `INSERT INTO events (event_id, event_type, visitor_id, occurred_at, source, medium, channel, is_bot)
       SELECT at, 'page_view', 'v', at::timestamptz, '(direct)', '(none)', 'direct', false
       FROM unnest(ARRAY['0999-06-01T00:00:00Z', '0040-03-05T00:00:00Z', '0025-03-05T00:00:00Z',
                         '9999-12-05T00:00:00Z']) AS at`,
    );
    try {
      await expect(maintenance().maintain()).rejects.toThrow(/a table of that name exists/);
      expect(await partitions()).toEqual(
        expect.arrayContaining(['events_0025_03', 'events_0040_03', 'events_0999_06']),
      );
      expect(await rowsIn(partitionOf(newer))).toBe(1);
      expect(await rowsIn('events_default')).toBe(2);
    } finally {
      await fixture.db.pool.query(`DROP TABLE ${partitionOf(old)}`);
    }
    await maintenance().maintain();
    expect(await rowsIn(partitionOf(old))).toBe(1);
    const { rows } = await fixture.db.pool.query(`SELECT event_id FROM events_default`);
    expect(rows).toEqual([{ event_id: '9999-12-05T00:00:00Z' }]);
  });

  it('drops whole months past EVENT_RETENTION_DAYS, with their keys and their credit', async () => {
    const now = new Date();
    const lastMonth = new Date(monthStart(now).getTime() - 10 * DAY_MS);
    const recent = new Date(now.getTime() - DAY_MS);
    const send = (at: Date, source: string, value: number) =>
      track(
        anEvent({
          occurred_at: at.toISOString(),
          visitor_id: `v_${source}_${randomUUID().slice(0, 6)}`,
          page_url: `https://shop.example.com/?utm_source=${source}&utm_medium=cpc`,
          value,
        }),
      ).expect(200);
    // Events before the conversions, so that the month spans several passes of its blocks
    // (rows of ~1 KB: ~4 MB, 500 blocks) and its conversions sit past the first.
    await fixture.db.pool.query(
      `INSERT INTO events (event_id, event_type, occurred_at, source, medium, channel, is_bot, properties)
       SELECT 'filler-' || g, 'page_view', $1, '(direct)', '(none)', 'direct', true,
              jsonb_build_object('padding', repeat('x', 1000))
       FROM generate_series(1, 4000) g`,
      [lastMonth],
    );
    for (let n = 0; n < 3; n++) await send(lastMonth, 'old', 10);
    for (let n = 0; n < 2; n++) await send(recent, 'new', 5);
    const { rows: placed } = await fixture.db.pool.query(
      `SELECT min((ctid::text::point)[0])::int AS block FROM "${partitionOf(lastMonth)}"
       WHERE event_type <> 'page_view'`,
    );
    expect(placed[0].block).toBeGreaterThan(250);
    const report = () => lastEightyDays(now);
    expect((await report()).totals.conversions).toBe(5);
    expect(await rowsIn('conversion_credits')).toBe(5);

    // The day when the last month is wholly older than the retention, and this one not yet.
    const cutoff = new Date(monthStart(now).getTime() + DAY_MS);
    const { dropped } = await maintenance().maintain(
      new Date(cutoff.getTime() + RETENTION_DAYS * DAY_MS),
    );
    // Every month before this one (those created ahead for old events too), none after.
    expect(dropped).toContain(partitionOf(lastMonth));
    expect(dropped.every((name) => name < partitionOf(now))).toBe(true);
    expect(await partitions()).toContain(partitionOf(now));
    expect(await partitions()).not.toContain(partitionOf(lastMonth));
    expect(await rowsIn('events')).toBe(2);
    expect(await rowsIn('event_ids')).toBe(2);
    const after = await report();
    expect(after.totals).toEqual({ conversions: 2, value_by_currency: { EUR: 10 } });
    expect(after.by_source.map((row: { source: string }) => row.source)).toEqual(['new']);
    const { rows } = await fixture.db.pool.query(
      'SELECT count(*)::int AS n FROM conversion_credits',
    );
    expect(rows[0].n).toBe(2);
  });

  it('removes the funnel state, links and funnel updates that only dropped months gave', async () => {
    const { now, lastMonth } = await lastMonthAgain();
    const recent = new Date(now.getTime() - 60_000);
    const send = (at: Date, event: Record<string, unknown>) =>
      track(anEvent({ occurred_at: at.toISOString(), user_id: undefined, ...event })).expect(200);
    const moveTo = (at: Date, body: Record<string, unknown>) =>
      fixture
        .http()
        .post('/v1/events/funnel')
        .send({ occurred_at: at.toISOString(), ...body })
        .expect(200);
    // Seen last month only: anonymous, then signed in as gone_user.
    await send(lastMonth, { event_type: 'page_view', visitor_id: 'v_gone' });
    await send(lastMonth, { visitor_id: 'v_gone', user_id: 'gone_user' });
    // Signed in last month, back this month without signing in: its link still joins them,
    // and that event (a stage it had reached) moves the user.
    await send(lastMonth, { event_type: 'page_view', visitor_id: 'v_back', user_id: 'back_user' });
    await send(lastMonth, { event_type: 'sign_up', visitor_id: 'v_back', user_id: 'back_user' });
    await send(recent, { event_type: 'page_view', visitor_id: 'v_back' });
    // Signed in on every event, last month and this month: no new stage, an event kept.
    await send(lastMonth, { event_type: 'purchase', visitor_id: 'v_loyal', user_id: 'loyal_user' });
    await send(lastMonth, {
      event_type: 'page_view',
      visitor_id: 'v_loyal',
      user_id: 'loyal_user',
    });
    await send(recent, { event_type: 'page_view', visitor_id: 'v_loyal', user_id: 'loyal_user' });
    // Entered last month, moved on this month.
    await send(lastMonth, { event_type: 'page_view', visitor_id: 'v_moving' });
    await send(recent, { event_type: 'generate_lead', visitor_id: 'v_moving' });
    // Linked by an explicit update last month, moved by another this month: no event at all.
    await moveTo(lastMonth, { visitor_id: 'v_x', user_id: 'x_user', stage: 'visit' });
    await moveTo(recent, { visitor_id: 'v_x', stage: 'lead' });
    // Linked to two users: the newest idle, the older one active through another visitor.
    await send(lastMonth, { event_type: 'page_view', visitor_id: 'v_shared', user_id: 'old_user' });
    await send(lastMonth, {
      event_type: 'page_view',
      visitor_id: 'v_shared',
      user_id: 'idle_user',
    });
    await send(recent, { event_type: 'page_view', visitor_id: 'v_other', user_id: 'old_user' });
    await moveTo(lastMonth, { visitor_id: 'v_explicit_old', stage: 'lead' });
    await moveTo(recent, { visitor_id: 'v_explicit_new', stage: 'lead' });
    // The service stamps links and funnel updates when it receives them: as if received then.
    await fixture.db.pool.query('UPDATE identity_links SET linked_at = $1', [lastMonth]);
    await fixture.db.pool.query(
      `UPDATE funnel_update_requests SET created_at = $1
       WHERE event_id IN (SELECT cause_event_id FROM funnel_transitions WHERE subject_id = 'v_explicit_old')`,
      [lastMonth],
    );

    const cutoff = new Date(monthStart(now).getTime() + DAY_MS);
    await maintenance().maintain(new Date(cutoff.getTime() + RETENTION_DAYS * DAY_MS));

    const subjects = async (table: string) =>
      (
        await fixture.db.pool.query<{ subject: string }>(
          `SELECT DISTINCT subject_id AS subject FROM ${table} ORDER BY 1`,
        )
      ).rows.map((row) => row.subject);
    // Each has an event or a stage reached since the start of this month.
    const stillMoving = [
      'back_user',
      'loyal_user',
      'old_user',
      'v_explicit_new',
      'v_moving',
      'x_user',
    ];
    expect(await subjects('funnel_progress')).toEqual(stillMoving);
    expect(await subjects('funnel_stage_reached')).toEqual(stillMoving);
    const { rows: moving } = await fixture.db.pool.query(
      `SELECT stage FROM funnel_stage_reached WHERE subject_id = 'v_moving' ORDER BY stage_index`,
    );
    expect(moving.map((row) => row.stage)).toEqual(['visit', 'lead']); // its whole path stays
    // The log of moves keeps only those of kept months.
    expect(await subjects('funnel_transitions')).toEqual(['v_explicit_new', 'v_moving', 'x_user']);
    const { rows: links } = await fixture.db.pool.query(
      'SELECT visitor_id, user_id FROM identity_links ORDER BY 1, 2',
    );
    // v_shared's links stay together: its older link kept alone would hand it to old_user.
    expect(links).toEqual([
      { visitor_id: 'v_back', user_id: 'back_user' },
      { visitor_id: 'v_loyal', user_id: 'loyal_user' },
      { visitor_id: 'v_other', user_id: 'old_user' },
      { visitor_id: 'v_shared', user_id: 'idle_user' },
      { visitor_id: 'v_shared', user_id: 'old_user' },
      { visitor_id: 'v_x', user_id: 'x_user' },
    ]);
    expect(await rowsIn('funnel_update_requests')).toBe(3); // v_explicit_new's, v_x's two

    // Once per horizon: what comes after it is left for a later month's pass.
    await fixture.db.pool.query('UPDATE identity_links SET linked_at = $1', [lastMonth]);
    await fixture.db.pool.query(`DELETE FROM events WHERE visitor_id = 'v_back'`);
    await maintenance().maintain(new Date(cutoff.getTime() + RETENTION_DAYS * DAY_MS));
    expect(await rowsIn('identity_links')).toBe(links.length);
  });

  it('walks a table of derived state in key order, each row once, whatever its key', async () => {
    const { lastMonth } = await lastMonthAgain();
    // Three visitors, eight users: only v_2's links are old.
    await fixture.db.pool.query(
      `INSERT INTO identity_links (visitor_id, user_id, linked_at)
       SELECT 'v_' || (g % 3), 'u_' || g, CASE WHEN g % 3 = 2 THEN $1 ELSE now() END
       FROM generate_series(1, 8) g`,
      [lastMonth],
    );
    const derived = fixture.app.get(DerivedStateRepository);
    let after: WalkPosition = null;
    const passes: number[] = [];
    do {
      const pass = await derived.prunePass(
        fixture.app.get(Database),
        'identity_links',
        monthStart(new Date()),
        after,
        3,
      );
      passes.push(pass.deleted);
      after = pass.next;
    } while (after !== null && passes.length < 10);
    expect(passes).toEqual([0, 1, 2]);
    expect(await rowsIn('identity_links')).toBe(5);
  });

  it('walks three-column and bigint keys in order too, each row once', async () => {
    await fixture.db.pool.query(
      `INSERT INTO funnel_progress (funnel, subject_type, subject_id, stage_index, stage, entered_at)
       SELECT f, t, s, 0, 'visit', now()
       FROM unnest(ARRAY['default', 'a?b', 'Z']) f, unnest(ARRAY['user', 'visitor']) t,
            unnest(ARRAY['x', 'X', 'x''y', 'a\\b', '?', 'é', '', 'x y']) s`,
    );
    await fixture.db.pool.query(`SELECT setval('funnel_transitions_id_seq', 9007199254740990)`);
    await fixture.db.pool.query(
      `INSERT INTO funnel_transitions (funnel, subject_type, subject_id, to_stage, cause_event_id, occurred_at)
       SELECT 'default', 'user', 'u' || g, 'visit', 'e' || g, now() FROM generate_series(1, 10) g`,
    );
    const walk = async (table: DerivedTableName) => {
      const positions: (readonly string[])[] = [];
      let after: WalkPosition = null;
      do {
        // Nothing expired: a horizon long past.
        after = (
          await fixture.app
            .get(DerivedStateRepository)
            .prunePass(fixture.app.get(Database), table, new Date(0), after, 3)
        ).next;
        if (after !== null) positions.push(after);
      } while (after !== null && positions.length < 100);
      return positions;
    };
    expect(await walk('funnel_progress')).toHaveLength(48 / 3);
    const transitions = await walk('funnel_transitions');
    expect(transitions).toHaveLength(3);
    expect(transitions.at(-1)).toEqual(['9007199254740999']);
  });

  it('changes nothing, credit included, when a drop gives up on a month a long query holds', async () => {
    const { now, lastMonth } = await lastMonthAgain();
    for (let n = 0; n < 3; n++)
      await track(anEvent({ occurred_at: lastMonth.toISOString() })).expect(200);
    const before = await lastEightyDays(now);
    expect(before.totals.conversions).toBe(3);
    const later = new Date(monthStart(now).getTime() + (RETENTION_DAYS + 1) * DAY_MS);
    const reader = await fixture.db.pool.connect();
    try {
      await reader.query('BEGIN');
      await reader.query(`SELECT count(*) FROM "${partitionOf(lastMonth)}"`);
      await expect(maintenance().maintain(later)).rejects.toThrow(/lock timeout/);
    } finally {
      await reader.query('ROLLBACK');
      reader.release();
    }
    expect(await partitions()).toContain(partitionOf(lastMonth));
    expect(await rowsIn('conversion_credits')).toBe(3);
    expect(await lastEightyDays(now)).toEqual(before);
  });

  it('makes the months ahead and drops old months even when moving events out of the default partition fails', async () => {
    const now = new Date();
    const lastMonth = new Date(monthStart(now).getTime() - 10 * DAY_MS);
    const strayMonth = new Date(monthStart(now).getTime() - 40 * DAY_MS);
    await maintenance().maintain(now); // the months again, if a test before dropped them
    await track(anEvent({ occurred_at: lastMonth.toISOString() })).expect(200);
    await fixture.db.pool.query(`DROP TABLE ${partitionOf(strayMonth)}`);
    await track(anEvent({ occurred_at: strayMonth.toISOString() })).expect(200);
    expect(await rowsIn('events_default')).toBe(1);
    const later = new Date(monthStart(now).getTime() + (RETENTION_DAYS + 1) * DAY_MS);
    const newMonth = partitionOf(monthStart(later, 3));
    await fixture.db.pool.query(`DROP TABLE IF EXISTS ${newMonth}`);
    // The move deletes the month's rows from the default partition: make that fail.
    await fixture.db.pool.query(`
      CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql
        AS $$ BEGIN RAISE EXCEPTION 'stray move refused'; END $$;
      CREATE TRIGGER refuse_delete BEFORE DELETE ON events_default
        FOR EACH ROW EXECUTE FUNCTION refuse_delete()`);
    try {
      await expect(maintenance().maintain(later)).rejects.toThrow(/stray move refused/);
      // What the stray gave stays until it is moved and dropped in its turn.
      const { rows: pruned } = await fixture.db.pool.query(
        'SELECT 1 FROM retention_state WHERE derived_pruned_before >= $1',
        [monthStart(now)],
      );
      expect(pruned).toEqual([]);
      expect(await partitions()).toContain(newMonth);
      expect(await partitions()).not.toContain(partitionOf(lastMonth));
      expect(await rowsIn('events_default')).toBe(1);
    } finally {
      await fixture.db.pool.query(
        'DROP TRIGGER refuse_delete ON events_default; DROP FUNCTION refuse_delete()',
      );
    }
    await maintenance().maintain(later);
    expect(await rowsIn('events_default')).toBe(0);
    expect(await partitions()).toContain(partitionOf(strayMonth));
  });

  it('drops old months even when a partition made by hand stops a month ahead from being made', async () => {
    const { now, lastMonth } = await lastMonthAgain();
    const later = new Date(monthStart(now).getTime() + (RETENTION_DAYS + 1) * DAY_MS);
    const aheadStart = monthStart(later, 3);
    await fixture.db.pool.query(`DROP TABLE IF EXISTS ${partitionOf(aheadStart)}`);
    const [from, to] = [aheadStart, monthStart(later, 4)].map((at) => at.toISOString());
    await fixture.db.pool.query(
      `CREATE TABLE events_by_hand PARTITION OF events FOR VALUES FROM ('${from}') TO ('${to}')`,
    );
    try {
      await expect(maintenance().maintain(later)).rejects.toThrow(/overlap/);
      expect(await partitions()).not.toContain(partitionOf(lastMonth));
    } finally {
      await fixture.db.pool.query('DROP TABLE events_by_hand');
    }
  });

  it('finishes a drop cut short after its month was detached: credit, table and keys go', async () => {
    const { now, lastMonth } = await lastMonthAgain();
    for (const at of [lastMonth, lastMonth, new Date(now.getTime() - DAY_MS)])
      await track(
        anEvent({
          occurred_at: at.toISOString(),
          visitor_id: `v_${randomUUID().slice(0, 6)}`,
          page_url: 'https://shop.example.com/?utm_source=cut&utm_medium=cpc',
        }),
      ).expect(200);
    const conversions = async () => (await lastEightyDays(now)).totals.conversions;
    expect(await conversions()).toBe(3);
    expect(await rowsIn('conversion_credits')).toBe(3);
    // What a drop leaves when its process stops right after the detach.
    const month = partitionOf(lastMonth);
    await fixture.db.pool.query(`ALTER TABLE events DETACH PARTITION "${month}"`);
    await fixture.db.pool.query(`ALTER TABLE "${month}" RENAME TO "retiring_${month}"`);

    const { dropped } = await maintenance().maintain(now);
    expect(dropped).toContain(month);
    const { rows } = await fixture.db.pool.query('SELECT to_regclass($1) AS table', [
      `retiring_${month}`,
    ]);
    expect(rows[0].table).toBeNull();
    expect(await rowsIn('conversion_credits')).toBe(1);
    expect(await rowsIn('event_ids')).toBe(1);
    expect(await conversions()).toBe(1);
  });

  it('leaves alone a month an operator detached, and tables that only look like months', async () => {
    const { now, lastMonth } = await lastMonthAgain();
    const kept = anEvent({ occurred_at: lastMonth.toISOString() });
    await track(kept).expect(200);
    const month = partitionOf(lastMonth);
    await fixture.db.pool.query(`ALTER TABLE events DETACH PARTITION "${month}"`);
    await fixture.db.pool.query('CREATE TABLE events_2024_13 (note text)');
    await fixture.db.pool.query(
      "CREATE TABLE events_2020_01 (note text); INSERT INTO events_2020_01 VALUES ('x')",
    );
    try {
      const { dropped } = await maintenance().maintain(now);
      expect(dropped).not.toContain(month);
      expect(dropped).not.toContain('events_2020_01');
      const { rows } = await fixture.db.pool.query(
        `SELECT (SELECT count(*)::int FROM "${month}") AS detached,
                (SELECT count(*)::int FROM events_2020_01) AS unrelated`,
      );
      expect(rows[0]).toEqual({ detached: 1, unrelated: 1 });
      // Its key is kept: a resend is still a duplicate.
      expect((await track(kept).expect(200)).body.duplicate).toBe(true);
    } finally {
      await fixture.db.pool.query(
        `DROP TABLE "${month}"; DROP TABLE events_2024_13; DROP TABLE events_2020_01`,
      );
    }
  });

  it('drops a month once when two replicas run the same pass at once, neither failing', async () => {
    const { now, lastMonth } = await lastMonthAgain();
    for (let n = 0; n < 3; n++)
      await track(anEvent({ occurred_at: lastMonth.toISOString() })).expect(200);
    expect((await lastEightyDays(now)).totals.conversions).toBe(3);
    const later = new Date(monthStart(now).getTime() + (RETENTION_DAYS + 1) * DAY_MS);

    const passes = await Promise.all([
      maintenance().maintain(later),
      maintenance().maintain(later),
    ]);
    // Each says what it dropped itself: every month once, by one of them.
    const dropped = passes.flatMap((pass) => pass.dropped);
    expect(dropped).toContain(partitionOf(lastMonth));
    expect(new Set(dropped).size).toBe(dropped.length);
    expect(await partitions()).not.toContain(partitionOf(lastMonth));
    expect(await rowsIn('conversion_credits')).toBe(0);
  });

  it('keeps the keys of an imported older month until that month itself is dropped', async () => {
    const { now, lastMonth } = await lastMonthAgain();
    await track(anEvent({ occurred_at: lastMonth.toISOString() })).expect(200);
    // An import straight into events, with its keys, of a month that has no partition.
    const importedAt = new Date(now.getTime() - 200 * DAY_MS);
    const importedId = `imported-${randomUUID()}`;
    await fixture.db.pool.query(
      `INSERT INTO events (event_id, event_type, visitor_id, occurred_at, source, medium, channel, is_bot)
       VALUES ($1, 'purchase', 'imported-visitor', $2, '(direct)', '(none)', 'direct', false)`,
      [importedId, importedAt],
    );
    await fixture.db.pool.query(
      'INSERT INTO event_ids SELECT event_id, occurred_at FROM events WHERE event_id = $1',
      [importedId],
    );
    const later = new Date(monthStart(now).getTime() + (RETENTION_DAYS + 1) * DAY_MS);
    const keyKept = async () =>
      (await fixture.db.pool.query('SELECT 1 FROM event_ids WHERE event_id = $1', [importedId]))
        .rows.length === 1;

    // This pass drops last month, and moves the import into its own month, which is past
    // the cutoff too: the next pass drops it.
    expect((await maintenance().maintain(later)).dropped).toContain(partitionOf(lastMonth));
    expect(await rowsIn(partitionOf(importedAt))).toBe(1);
    expect(await keyKept()).toBe(true);
    const resent = await track(anEvent({ event_id: importedId })).expect(200);
    expect(resent.body.duplicate).toBe(true);

    expect((await maintenance().maintain(later)).dropped).toContain(partitionOf(importedAt));
    expect(await keyKept()).toBe(false);
  });

  it('finishes a drop cut short while it forgot the month’s keys: the keys go, then the table', async () => {
    const { now, lastMonth } = await lastMonthAgain();
    const sent = anEvent({ occurred_at: lastMonth.toISOString() });
    await track(sent).expect(200);
    const later = new Date(monthStart(now).getTime() + (RETENTION_DAYS + 1) * DAY_MS);
    const repository = fixture.app.get(EventPartitionsRepository);
    const forget = repository.forgetKeysOf.bind(repository);
    let cutShort = false;
    const cut = vi.spyOn(repository, 'forgetKeysOf').mockImplementation((sql, partition, limit) => {
      if (cutShort || !partition.name.endsWith(partitionOf(lastMonth)))
        return forget(sql, partition, limit);
      cutShort = true;
      return Promise.reject(new Error('connection lost'));
    });
    try {
      await expect(maintenance().maintain(later)).rejects.toThrow('connection lost');
    } finally {
      cut.mockRestore();
    }
    expect(cutShort).toBe(true);
    const keyKept = async () =>
      (await fixture.db.pool.query('SELECT 1 FROM event_ids WHERE event_id = $1', [sent.event_id]))
        .rows.length === 1;
    // Cut short before the table went: the next pass finds it, and finishes both.
    expect(await keyKept()).toBe(true);
    expect((await maintenance().maintain(later)).dropped).toContain(partitionOf(lastMonth));
    expect(await keyKept()).toBe(false);
  });

  it('gives up on a new partition rather than hold tracking behind a long query, and makes it next time', async () => {
    // The pass of a day two years on, whose months ahead no other test made.
    const later = monthStart(new Date(), 24);
    const newPartition = partitionOf(monthStart(later, 3));
    expect(await partitions()).not.toContain(newPartition);
    const reader = await fixture.db.pool.connect();
    try {
      // A report reading events: it holds the table until its transaction ends.
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM events');
      // Its refusal is awaited below, after the insert; the expectation is attached now.
      const refused = expect(maintenance().maintain(later)).rejects.toThrow(/lock timeout/);
      const started = performance.now();
      await track(anEvent()).expect(200);
      expect(performance.now() - started).toBeLessThan(1_000);
      await refused;
    } finally {
      await reader.query('ROLLBACK');
      reader.release();
    }
    expect(await partitions()).not.toContain(newPartition);
    await maintenance().maintain(later);
    expect(await partitions()).toContain(newPartition);
  });
});

describe('events partitioned by month, EVENT_RETENTION_DAYS unset', () => {
  const fixture = useAppFixture({ RATE_LIMIT_PER_MINUTE: '0' });

  it('still finishes a drop cut short after its detach, and drops nothing else', async () => {
    await fixture.reset();
    const now = new Date();
    const lastMonth = new Date(monthStart(now).getTime() - 10 * DAY_MS);
    const month = partitionOf(lastMonth);
    const maintenance = fixture.app.get(EventPartitionMaintenance);
    await fixture.db.pool.query('SELECT ensure_event_partitions($1, $1)', [lastMonth]);
    await fixture.db.pool.query(`ALTER TABLE events DETACH PARTITION "${month}"`);
    await fixture.db.pool.query(`ALTER TABLE "${month}" RENAME TO "retiring_${month}"`);

    const { dropped } = await maintenance.maintain(now);
    expect(dropped).toEqual([month]);
    const { rows } = await fixture.db.pool.query('SELECT to_regclass($1) AS table', [
      `retiring_${month}`,
    ]);
    expect(rows[0].table).toBeNull();
  });
});
