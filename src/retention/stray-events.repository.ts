import { Injectable } from '@nestjs/common';
import { Sql } from '../persistence/database';
import {
  MONTHLY_PARTITION,
  PARTITIONS_LOCK,
  waitBrieflyForLocks,
} from './event-partitions.repository';

/** The prefix of a month's table while its events are moved in from the default partition. */
const MOVING = 'moving_';
const MONTH_BOUND = 'month_bound';
/** The highest block number: a range up to it is the rest of the table. */
const LAST_BLOCK = 2 ** 32 - 1;

/**
 * The SQL that moves events out of the default partition of `events` into the partition
 * of their month, without holding `events` (see StrayEventMover).
 */
@Injectable()
export class StrayEventsRepository {
  /**
   * The oldest month from `from` on (from the start when null) with events in the
   * default partition (an import straight into `events`, say), or with a move of them cut
   * short; null when there is none. Only months from 0001-01 to 9999-11 have a partition
   * name and bounds that JavaScript and PostgreSQL both write alike: events outside them
   * stay in the default partition.
   */
  async oldestStrayMonth(sql: Sql, from: string | null): Promise<StrayMonth | null> {
    const [first] = await sql.query<{ year: number; month: number }>(
      `SELECT extract(year FROM start)::int AS year, extract(month FROM start)::int AS month
       FROM (SELECT least(
         (SELECT date_trunc('month', min(occurred_at) AT TIME ZONE 'UTC') FROM events_default
          WHERE occurred_at >= greatest(?::timestamptz, '0001-01-01T00:00:00Z')
            AND occurred_at < '9999-12-01T00:00:00Z'),
         (SELECT min(to_date(substr(relname, ${MOVING.length + 8}), 'YYYY_MM'))::timestamp
          FROM pg_class
          WHERE relkind = 'r' AND pg_table_is_visible(oid) AND relname ~ '^${MOVING}events_[0-9]{4}_(0[1-9]|1[0-2])$'
            AND to_date(substr(relname, ${MOVING.length + 8}), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC' >= ?::timestamptz)
       ) AS start) oldest
       WHERE start IS NOT NULL`,
      [from ?? '-infinity', from ?? '-infinity'],
    );
    return first === undefined ? null : strayMonth(first.year, first.month);
  }

  /**
   * The table the month's events are copied into before it becomes their partition:
   * `events`' columns and indexes, and its bound as a constraint, so that attaching it
   * need not read it. Kept when it exists (a move cut short goes on from it).
   */
  async stage(sql: Sql, month: StrayMonth): Promise<void> {
    await sql.query(`SELECT pg_advisory_xact_lock(${PARTITIONS_LOCK})`);
    const [{ staged }] = await sql.query<{ staged: boolean }>(
      'SELECT to_regclass(?) IS NOT NULL AS staged',
      [movingTableOf(month)],
    );
    if (staged) return;
    await sql.query(
      `CREATE TABLE ${movingTableOf(month)} (LIKE events INCLUDING DEFAULTS INCLUDING INDEXES)`,
    );
    await sql.query(
      `ALTER TABLE ${movingTableOf(month)} ADD CONSTRAINT ${MONTH_BOUND}
       CHECK (occurred_at >= ?::timestamptz AND occurred_at < ?::timestamptz)`,
      [month.start, month.end],
    );
  }

  /** How many blocks the default partition has (strays are copied in ranges of them). */
  async blocksOfDefault(sql: Sql): Promise<number> {
    const [{ blocks }] = await sql.query<{ blocks: number }>(
      `SELECT (pg_relation_size('events_default') / current_setting('block_size')::int)::int AS blocks`,
    );
    return blocks;
  }

  /** Copies the month's events in blocks [from, to) of the default partition; safe to repeat. */
  async copyStrays(sql: Sql, month: StrayMonth, from: number, to: number): Promise<void> {
    await sql.query(
      `INSERT INTO ${movingTableOf(month)}
       SELECT * FROM events_default
       WHERE ctid >= ?::tid AND ctid < ?::tid AND occurred_at >= ? AND occurred_at < ?
       ON CONFLICT DO NOTHING`,
      [`(${from},0)`, `(${to},0)`, month.start, month.end],
    );
  }

  /**
   * Whether the copy holds exactly the month's rows of the default partition (a row
   * inserted into a block copied before, updated or deleted since, makes them differ).
   */
  async copyMatches(sql: Sql, month: StrayMonth): Promise<boolean> {
    const fingerprint = (table: string, where: string) =>
      `(SELECT (count(*), bit_xor(hashtextextended(t::text, 0))) FROM ${table} t ${where})`;
    const [{ same }] = await sql.query<{ same: boolean }>(
      `SELECT ${fingerprint('events_default', 'WHERE occurred_at >= ? AND occurred_at < ?')}
              IS NOT DISTINCT FROM ${fingerprint(movingTableOf(month), '')} AS same`,
      [month.start, month.end],
    );
    return same;
  }

  /**
   * Makes the copy equal to the month's rows of the default partition: what it holds that
   * they no longer hold as they are goes, what it lacks comes. Costs a read of both.
   */
  async syncCopy(sql: Sql, month: StrayMonth): Promise<void> {
    const moving = movingTableOf(month);
    await sql.query(
      `DELETE FROM ${moving} m WHERE NOT EXISTS (
         SELECT 1 FROM events_default d
         WHERE d.id = m.id AND d.occurred_at = m.occurred_at AND d::text = m::text)`,
    );
    await sql.query(
      `INSERT INTO ${moving}
       SELECT * FROM events_default d
       WHERE d.occurred_at >= ? AND d.occurred_at < ?
         AND NOT EXISTS (SELECT 1 FROM ${moving} m WHERE m.id = d.id AND m.occurred_at = d.occurred_at)
       ON CONFLICT DO NOTHING`,
      [month.start, month.end],
    );
  }

  /**
   * Makes the copy the month's partition and deletes the month from the default
   * partition, in one transaction that holds only the default partition: tracking goes on
   * into the other months (attaching takes a lock that inserts do not wait for; one that
   * was routed to the default partition meanwhile fails, and the track path sends it
   * again). Rows from block `copiedTo` on are copied under that hold, and the copy is set
   * equal to the month should they still differ. Returns false when there was nothing
   * left to do (another replica finished the move, or the month has its partition).
   */
  async finishMove(sql: Sql, month: StrayMonth, copiedTo: number): Promise<boolean> {
    await sql.query(`SELECT pg_advisory_xact_lock(${PARTITIONS_LOCK})`);
    await waitBrieflyForLocks(sql);
    const [{ staged, partitioned, taken }] = await sql.query<{
      staged: boolean;
      partitioned: boolean;
      taken: boolean;
    }>(
      `SELECT to_regclass(?) IS NOT NULL AS staged,
              EXISTS (SELECT 1 FROM pg_inherits
                      WHERE inhrelid = to_regclass(?) AND inhparent = 'events'::regclass) AS partitioned,
              to_regclass(?) IS NOT NULL AS taken`,
      [movingTableOf(month), month.name, month.name],
    );
    if (!staged) return false;
    if (partitioned) {
      // Made once the default held none of the month: the copy is left over.
      await sql.query(`DROP TABLE ${movingTableOf(month)}`);
      return false;
    }
    if (taken)
      throw new Error(
        `Cannot move the events of ${month.name} out of the default partition: a table of that name exists and is not its partition (rename it)`,
      );
    await this.takeStrays(sql, month, copiedTo);
    await this.attachCopy(sql, month);
    return true;
  }

  /** Completes the copy of the month's strays and deletes them from the default partition. */
  private async takeStrays(sql: Sql, month: StrayMonth, copiedTo: number): Promise<void> {
    // The parent first, as every other lock on events is taken.
    await sql.query('LOCK TABLE ONLY events IN SHARE UPDATE EXCLUSIVE MODE');
    await sql.query('LOCK TABLE events_default IN ACCESS EXCLUSIVE MODE');
    await this.copyStrays(sql, month, copiedTo, LAST_BLOCK);
    if (!(await this.copyMatches(sql, month))) await this.syncCopy(sql, month);
    await sql.query('DELETE FROM events_default WHERE occurred_at >= ? AND occurred_at < ?', [
      month.start,
      month.end,
    ]);
  }

  /** Makes the copy the month's partition, named as ensure() names one where it can be. */
  private async attachCopy(sql: Sql, month: StrayMonth): Promise<void> {
    const moving = movingTableOf(month);
    await sql.query(
      `ALTER TABLE events ATTACH PARTITION ${moving} FOR VALUES FROM ('${month.start}') TO ('${month.end}')`,
    );
    await sql.query(`ALTER TABLE ${moving} DROP CONSTRAINT ${MONTH_BOUND}`);
    await sql.query(`ALTER TABLE ${moving} RENAME TO "${month.name}"`);
    // A month's table a drop left unfinished may keep those names: then they stay as they are.
    await sql.query(
      `DO $$ DECLARE index_name text; BEGIN
         FOR index_name IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                           WHERE i.indrelid = '"${month.name}"'::regclass AND c.relname LIKE '${MOVING}%'
         LOOP
           IF to_regclass(format('%I', substr(index_name, ${MOVING.length + 1}))) IS NULL THEN
             EXECUTE format('ALTER INDEX %I RENAME TO %I', index_name, substr(index_name, ${MOVING.length + 1}));
           END IF;
         END LOOP;
       END $$`,
    );
  }

  /** Whether events from before `instant` are left in the default partition (strays). */
  async straysBefore(sql: Sql, instant: Date): Promise<boolean> {
    const [row] = await sql.query<{ left: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM events_default WHERE occurred_at < ?) AS left',
      [instant],
    );
    return row.left;
  }
}

/** A month whose events fell into the default partition. */
export interface StrayMonth {
  /** `events_YYYY_MM`: the partition it gets. */
  name: string;
  /** ISO-8601 in UTC, with a four-digit year (a Date would write years before 100 as 19xx). */
  start: string;
  /** Exclusive, as `start`. */
  end: string;
}

function strayMonth(year: number, month: number): StrayMonth {
  const start = new Date(0);
  start.setUTCFullYear(year, month - 1, 1);
  const end = new Date(start);
  end.setUTCMonth(month);
  const name = `events_${String(year).padStart(4, '0')}_${String(month).padStart(2, '0')}`;
  return { name, start: start.toISOString(), end: end.toISOString() };
}

/** The table a stray month is copied into, quoted. */
function movingTableOf(month: StrayMonth): string {
  if (!MONTHLY_PARTITION.test(month.name))
    throw new Error(`not a monthly partition: ${month.name}`);
  return `"${MOVING}${month.name}"`;
}
