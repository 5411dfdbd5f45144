import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SqlState, sqlState } from '../common/sql-state';
import { Database } from '../persistence/database';
import { FunnelCatalog } from './funnel-catalog';
import { FunnelStagesRepository, StagePositions } from './funnel-stages.repository';

/**
 * Stored progress records a stage's position in its funnel. At start, each funnel's
 * stages are compared with those last applied: when FUNNELS_FILE has moved, added or
 * removed stages, stored progress is renumbered before any request is served, so that a
 * subject at "customer" stays at "customer" (and a subject at a removed stage goes back
 * to the furthest stage it reached that still exists).
 */
@Injectable()
export class FunnelStagesSync implements OnApplicationBootstrap {
  private readonly logger = new Logger(FunnelStagesSync.name);

  constructor(
    private readonly database: Database,
    private readonly catalog: FunnelCatalog,
    private readonly stages: FunnelStagesRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.sync();
    } catch (error) {
      // Migrations not applied yet (MIGRATE_ON_START=false): the service starts, /ready says
      // what is pending, and the start after migrating records the funnels.
      if (sqlState(error) !== SqlState.undefinedTable) throw error;
      this.logger.warn(
        'funnel_stages does not exist yet (pending migrations): funnels not checked',
      );
    }
  }

  private async sync(): Promise<void> {
    await this.database.transaction(async (sql) => {
      await this.stages.lock(sql);
      const applied = await this.stages.applied(sql);
      for (const funnel of this.catalog.funnels) {
        const current: StagePositions = new Map(funnel.stages.map((stage, i) => [stage.name, i]));
        const before = applied.get(funnel.name);
        if (before !== undefined && samePositions(before, current)) continue;
        if (before !== undefined) {
          const removed = [...before.keys()].filter((stage) => !current.has(stage));
          const { moved, dropped } = await this.stages.renumber(sql, funnel.name, current, removed);
          this.logger.warn(
            `FUNNELS_FILE changed the stages of funnel "${funnel.name}": stored progress renumbered` +
              (removed.length > 0 ? `; removed ${removed.join(', ')}` : '') +
              ` (${moved} subject(s) moved to the furthest stage they reached, ${dropped} left with none)`,
          );
        }
        await this.stages.record(sql, funnel.name, current);
      }
    });
  }
}

function samePositions(a: StagePositions, b: StagePositions): boolean {
  return a.size === b.size && [...a].every(([stage, index]) => b.get(stage) === index);
}
