import { Injectable } from '@nestjs/common';
import { sqlState, SqlState } from '../common/sql-state';
import { Sql } from '../persistence/database';
import type { CreditTuple } from '../reporting/rollup/attribution-refresh.repository';
import { StoredCredits, unpackCredits } from '../reporting/rollup/stored-credits';

/** Lets one replica at a time create partitions (two creating the same one would clash). */
const PARTITIONS_LOCK = "hashtext('conversion-tracking:event-partitions')";
/**
 * How long partition DDL may wait for its lock on `events`. Creating or dropping a
 * partition needs the whole table to itself, and while it waits for a running report
 * every insert queues behind it: better to give up and try again at the next pass
 * (partitions are made months ahead) than to stall tracking for the report's length.
 */
const DDL_LOCK_TIMEOUT = '200ms';
/** Only partitions this service made: `events_YYYY_MM`, one UTC month each. */
const MONTHLY_PARTITION = /^events_\d{4}_(0[1-9]|1[0-2])$/;
const MONTHLY_PARTITION_SQL = `'^events_[0-9]{4}_(0[1-9]|1[0-2])$'`;
/** What a drop renames a month to when it detaches it, so that only its own are finished. */
const RETIRING = 'retiring_';
/** The prefix of a month's table while its events are moved in from the default partition. */
const MOVING = 'moving_';
const MONTH_BOUND = 'month_bound';
/** The highest block number: a range up to it is the rest of the table. */
const LAST_BLOCK = 2 ** 32 - 1;

export interface MonthlyPartition {
  /** `events_YYYY_MM`. */
  name: string;
  /** Exclusive upper bound of its month. */
  end: Date;
  /** Still a partition of `events`; false: detached (and renamed) by a drop under way. */
  attached: boolean;
}

/** The SQL behind monthly partitions of `events` (created by the partitioning migration). */
@Injectable()
export class EventPartitionsRepository {
  /**
   * Creates the monthly partitions missing from the month of `from` to the month of `to`.
   * Returns how many it created.
   */
  async ensure(sql: Sql, from: Date, to: Date): Promise<number> {
    await sql.query(`SELECT pg_advisory_xact_lock(${PARTITIONS_LOCK})`);
    await waitBrieflyForLocks(sql);
    const [{ created }] = await sql.query<{ created: number }>(
      'SELECT ensure_event_partitions(?, ?) AS created',
      [from, to],
    );
    return created;
  }

  /**
   * The oldest month from `from` on (from the start when null) with events in the
   * default partition (an import straight into `events`, say), or with a move of them cut
   * short; null when there is none. Years outside 1–9999 have no partition name: their
   * events stay in the default partition.
   */
  async oldestStrayMonth(sql: Sql, from: Date | null): Promise<StrayMonth | null> {
    const [{ start }] = await sql.query<{ start: string | null }>(
      `SELECT least(
         (SELECT date_trunc('month', min(occurred_at), 'UTC') FROM events_default
          WHERE occurred_at >= greatest(?::timestamptz, '0001-01-01T00:00:00Z')
            AND occurred_at < '10000-01-01T00:00:00Z'),
         (SELECT min(to_date(substr(relname, ${MOVING.length + 8}), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC')
          FROM pg_class
          WHERE relkind = 'r' AND pg_table_is_visible(oid) AND relname ~ '^${MOVING}events_[0-9]{4}_(0[1-9]|1[0-2])$'
            AND to_date(substr(relname, ${MOVING.length + 8}), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC' >= ?::timestamptz)
       ) AS start`,
      [from ?? '-infinity', from ?? '-infinity'],
    );
    return start === null ? null : strayMonth(new Date(start));
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
    const [{ staged, partitioned }] = await sql.query<{ staged: boolean; partitioned: boolean }>(
      `SELECT to_regclass(?) IS NOT NULL AS staged,
              EXISTS (SELECT 1 FROM pg_inherits
                      WHERE inhrelid = to_regclass(?) AND inhparent = 'events'::regclass) AS partitioned`,
      [movingTableOf(month), month.name],
    );
    if (!staged) return false;
    if (partitioned) {
      // Made once the default held none of the month: the copy is left over.
      await sql.query(`DROP TABLE ${movingTableOf(month)}`);
      return false;
    }
    const [{ taken }] = await sql.query<{ taken: boolean }>(
      'SELECT to_regclass(?) IS NOT NULL AS taken',
      [month.name],
    );
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
      `ALTER TABLE events ATTACH PARTITION ${moving} FOR VALUES FROM ('${month.start.toISOString()}') TO ('${month.end.toISOString()}')`,
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

  /**
   * Monthly partitions whose month ends at or before `cutoff` (none when null), and
   * monthly tables a drop detached and did not finish with (the process stopped in
   * between), oldest first.
   */
  async endingBy(sql: Sql, cutoff: Date | null): Promise<MonthlyPartition[]> {
    return sql.query<MonthlyPartition>(
      `SELECT name, "end", attached FROM (
         SELECT name, attached,
                -- Guarded: the planner may evaluate it before the name's test.
                CASE WHEN name ~ ${MONTHLY_PARTITION_SQL}
                     THEN (to_date(substr(name, 8), 'YYYY_MM') + interval '1 month') AT TIME ZONE 'UTC'
                END AS "end"
         FROM (
           SELECT c.relname::text AS name, true AS attached
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'events'::regclass
           UNION ALL
           SELECT substr(c.relname, ${RETIRING.length + 1}), false
           FROM pg_class c
           WHERE c.relkind = 'r' AND pg_table_is_visible(c.oid) AND c.relname LIKE '${RETIRING}%'
         ) tables
       ) monthly
       WHERE "end" IS NOT NULL AND ("end" <= ?::timestamptz OR NOT attached) ORDER BY name`,
      [cutoff],
    );
  }

  /**
   * How many blocks the partition's table has (its events are read in ranges of them);
   * 0 once it is gone (another replica dropped it).
   */
  async blocksOf(sql: Sql, partition: MonthlyPartition): Promise<number> {
    const [{ blocks }] = await sql.query<{ blocks: number }>(
      `SELECT coalesce(pg_relation_size(to_regclass(?)) / current_setting('block_size')::int, 0)::int AS blocks`,
      [tableOf(partition)],
    );
    return blocks;
  }

  /**
   * The stored credits of the conversions stored in blocks [from, to) of the partition.
   * Read by block range with a probe of `conversion_credits` per event, so each call
   * costs its range alone: a join left to the planner read all of `conversion_credits`,
   * or the partition from its start, on every call, past the statement timeout once the
   * tables held millions.
   */
  async creditsIn(
    sql: Sql,
    partition: MonthlyPartition,
    from: number,
    to: number,
  ): Promise<Map<string, CreditTuple[]>> {
    const rows = await sql.query<{ event_id: string; credits: StoredCredits }>(
      `SELECT e.id AS event_id, c.credits
       FROM ${tableOf(partition)} e
       CROSS JOIN LATERAL (SELECT credits FROM conversion_credits WHERE event_id = e.id OFFSET 0) c
       WHERE e.ctid >= ?::tid AND e.ctid < ?::tid`,
      [`(${from},0)`, `(${to},0)`],
    );
    return new Map(rows.map((row) => [row.event_id, unpackCredits(row.credits)]));
  }

  async deleteCredits(sql: Sql, eventIds: readonly string[]): Promise<void> {
    await sql.query(
      `DELETE FROM conversion_credits
       WHERE event_id IN (SELECT id::uuid FROM json_array_elements_text(?::json) AS ids(id))`,
      [JSON.stringify(eventIds)],
    );
  }

  /**
   * Takes the partition out of `events`: from then on no query of `events` reads its rows.
   * Nothing to do when another replica's drop has detached it already.
   */
  async detach(sql: Sql, partition: MonthlyPartition): Promise<MonthlyPartition> {
    await waitBrieflyForLocks(sql);
    const detached = { ...partition, attached: false };
    const [{ attached }] = await sql.query<{ attached: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_inherits
                      WHERE inhrelid = to_regclass(?) AND inhparent = 'events'::regclass) AS attached`,
      [tableOf(partition)],
    );
    if (attached) {
      await sql.query(`ALTER TABLE events DETACH PARTITION ${tableOf(partition)}`);
      await sql.query(`ALTER TABLE ${tableOf(partition)} RENAME TO ${tableOf(detached)}`);
    }
    return detached;
  }

  async drop(sql: Sql, partition: MonthlyPartition): Promise<void> {
    await waitBrieflyForLocks(sql);
    await sql.query(`DROP TABLE IF EXISTS ${tableOf(partition)}`);
  }

  /** Forgets up to `limit` idempotency keys of events before `end`; returns how many. */
  async forgetKeysBefore(sql: Sql, end: Date, limit: number): Promise<number> {
    const rows = await sql.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM event_ids WHERE ctid = ANY(ARRAY(
           SELECT ctid FROM event_ids WHERE occurred_at < ? LIMIT ?))
         RETURNING 1
       ) SELECT count(*)::int AS n FROM gone`,
      [end, limit],
    );
    return rows[0].n;
  }
}

/** A month whose events fell into the default partition. */
export interface StrayMonth {
  /** `events_YYYY_MM`: the partition it gets. */
  name: string;
  start: Date;
  /** Exclusive. */
  end: Date;
}

function strayMonth(start: Date): StrayMonth {
  const end = new Date(start);
  end.setUTCMonth(end.getUTCMonth() + 1);
  const year = String(start.getUTCFullYear()).padStart(4, '0');
  const month = String(start.getUTCMonth() + 1).padStart(2, '0');
  return { name: `events_${year}_${month}`, start, end };
}

/** The table a stray month is copied into, quoted. */
function movingTableOf(month: StrayMonth): string {
  if (!MONTHLY_PARTITION.test(month.name))
    throw new Error(`not a monthly partition: ${month.name}`);
  return `"${MOVING}${month.name}"`;
}

/** The month's table, quoted: its partition, or what a drop detached it as. */
function tableOf(partition: MonthlyPartition): string {
  // The name comes from the catalog and matched the pattern; checked again before use in SQL.
  if (!MONTHLY_PARTITION.test(partition.name))
    throw new Error(`not a monthly partition: ${partition.name}`);
  return `"${partition.attached ? '' : RETIRING}${partition.name}"`;
}

/** For the rest of the transaction: a lock not granted within DDL_LOCK_TIMEOUT fails it (55P03). */
async function waitBrieflyForLocks(sql: Sql): Promise<void> {
  await sql.query(`SET LOCAL lock_timeout = '${DDL_LOCK_TIMEOUT}'`);
}

/** A pass that gave up waiting for the table (a long query held it): the next one will try again. */
export function isLockTimeout(error: unknown): boolean {
  return sqlState(error) === SqlState.lockNotAvailable;
}
