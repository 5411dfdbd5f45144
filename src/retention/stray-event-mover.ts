import { Injectable, Logger } from '@nestjs/common';
import { sqlState, SqlState } from '../common/sql-state';
import { Database } from '../persistence/database';
import { StrayEventsRepository, StrayMonth } from './stray-events.repository';

/** Blocks of the default partition (~2,500 events) copied per transaction. */
const BLOCKS_PER_PASS = 250;

/**
 * Moves events that fell into the default partition of `events` (an import straight
 * into it, or a month whose partition was missing) into the partition of their month:
 * the last step of each EventPartitionMaintenance pass.
 */
@Injectable()
export class StrayEventMover {
  private readonly logger = new Logger(StrayEventMover.name);

  constructor(
    private readonly database: Database,
    private readonly strays: StrayEventsRepository,
  ) {}

  /** Whether events from before `instant` are left in the default partition. */
  leftBefore(instant: Date): Promise<boolean> {
    return this.strays.straysBefore(this.database, instant);
  }

  /**
   * Months of events in the default partition get their partition, oldest first. Each
   * month's rows are copied into a table of their own in short transactions, and only the
   * last, which makes that table the month's partition, holds the default partition (not
   * `events`): tracking into the months that have partitions goes on throughout.
   */
  async moveAll(stopping: () => boolean): Promise<number> {
    let moved = 0;
    const failures: unknown[] = [];
    // Each month once, oldest first: one that cannot move holds back none after it.
    for (let from: string | null = null; ;) {
      const month = await this.strays.oldestStrayMonth(this.database, from);
      if (month === null) break;
      from = month.end;
      try {
        const copiedTo = await this.copy(month, stopping);
        if (copiedTo === undefined) break; // stopping: the next start goes on
        const finished = await this.database.longTransaction((sql) =>
          this.strays.finishMove(sql, month, copiedTo),
        );
        if (!finished) continue;
        moved += 1;
        this.logger.log(`Moved the events of ${month.name} out of the default partition of events`);
      } catch (error) {
        failures.push(error);
      }
    }
    for (const failure of failures.slice(1))
      this.logger.error(`Moving events out of the default partition: ${String(failure)}`);
    if (failures.length > 0) throw failures[0];
    return moved;
  }

  /**
   * Copies the month's strays into their own table, a range of blocks per transaction,
   * and then (once, if they differ: a row inserted into a block copied before, or changed)
   * sets the copy equal to them, reading both without holding either. Returns how many
   * blocks were copied, or undefined when shutdown cut the copy short.
   */
  private async copy(month: StrayMonth, stopping: () => boolean): Promise<number | undefined> {
    await this.database.transaction((sql) => this.strays.stage(sql, month));
    // The default partition may grow while it is copied (the month's events still land there).
    let copiedTo = 0;
    try {
      for (
        let blocks = await this.strays.blocksOfDefault(this.database);
        copiedTo < blocks;
        blocks = await this.strays.blocksOfDefault(this.database)
      ) {
        const to = Math.min(copiedTo + BLOCKS_PER_PASS, blocks);
        await this.database.transaction((sql) => this.strays.copyStrays(sql, month, copiedTo, to));
        copiedTo = to;
        if (stopping()) return undefined;
      }
      // Reads the whole month twice: no statement timeout.
      await this.database.longTransaction(async (sql) => {
        if (!(await this.strays.copyMatches(sql, month))) await this.strays.syncCopy(sql, month);
      });
    } catch (error) {
      // Another replica finished the move meanwhile: the copy became the month's partition
      // under another name. Finishing finds that, and leaves it.
      if (sqlState(error) !== SqlState.undefinedTable) throw error;
    }
    return copiedTo;
  }
}
