import { Injectable } from '@nestjs/common';
import { sqlState, SqlState } from '../common/sql-state';
import { Sql } from '../persistence/database';
import type { CreditTuple } from '../reporting/rollup/attribution-refresh.repository';
import { StoredCredits, unpackCredits } from '../reporting/rollup/stored-credits';

/** Lets one replica at a time create partitions (two creating the same one would clash). */
export const PARTITIONS_LOCK = "hashtext('conversion-tracking:event-partitions')";
/**
 * How long partition DDL may wait for its lock on `events`. Creating or dropping a
 * partition needs the whole table to itself, and while it waits for a running report
 * every insert queues behind it: better to give up and try again at the next pass
 * (partitions are made months ahead) than to stall tracking for the report's length.
 */
const DDL_LOCK_TIMEOUT = '200ms';
/** Only partitions this service made: `events_YYYY_MM`, one UTC month each. */
export const MONTHLY_PARTITION = /^events_\d{4}_(0[1-9]|1[0-2])$/;
const MONTHLY_PARTITION_SQL = `'^events_[0-9]{4}_(0[1-9]|1[0-2])$'`;
/** What a drop renames a month to when it detaches it, so that only its own are finished. */
const RETIRING = 'retiring_';

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

  /** Throws undefined_table when it is gone already (another replica's drop finished it). */
  async drop(sql: Sql, partition: MonthlyPartition): Promise<void> {
    await waitBrieflyForLocks(sql);
    await sql.query(`DROP TABLE ${tableOf(partition)}`);
  }

  /**
   * Forgets up to `limit` idempotency keys of the partition's month; returns how many.
   * Only its month's: keys of an older month whose events are still stored (an import
   * into the default partition, moved into its own month later) stay until that goes.
   */
  async forgetKeysOf(sql: Sql, partition: MonthlyPartition, limit: number): Promise<number> {
    const rows = await sql.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM event_ids WHERE ctid = ANY(ARRAY(
           SELECT ctid FROM event_ids
           WHERE occurred_at >= (?::timestamptz AT TIME ZONE 'UTC' - interval '1 month') AT TIME ZONE 'UTC'
             AND occurred_at < ?
           LIMIT ?))
         RETURNING 1
       ) SELECT count(*)::int AS n FROM gone`,
      [partition.end, partition.end, limit],
    );
    return rows[0].n;
  }
}

/** The month's table, quoted: its partition, or what a drop detached it as. */
function tableOf(partition: MonthlyPartition): string {
  // The name comes from the catalog and matched the pattern; checked again before use in SQL.
  if (!MONTHLY_PARTITION.test(partition.name))
    throw new Error(`not a monthly partition: ${partition.name}`);
  return `"${partition.attached ? '' : RETIRING}${partition.name}"`;
}

/** For the rest of the transaction: a lock not granted within DDL_LOCK_TIMEOUT fails it (55P03). */
export async function waitBrieflyForLocks(sql: Sql): Promise<void> {
  await sql.query(`SET LOCAL lock_timeout = '${DDL_LOCK_TIMEOUT}'`);
}

/** A pass that gave up waiting for the table (a long query held it): the next one will try again. */
export function isLockTimeout(error: unknown): boolean {
  return sqlState(error) === SqlState.lockNotAvailable;
}
