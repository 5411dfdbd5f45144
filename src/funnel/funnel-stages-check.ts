import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SqlState, sqlState } from '../common/sql-state';
import { Database, Sql } from '../persistence/database';
import { FunnelCatalog } from './funnel-catalog';
import { FunnelStagesRepository } from './funnel-stages.repository';

/**
 * Stored progress records each stage by its position in the funnel. A FUNNELS_FILE that
 * moves, removes or renames stages some subject has reached would silently change what
 * that progress means (a subject at "customer" read as "signup"), so at start, before any
 * request, stored progress is renumbered by stage name. Each funnel's stages as last
 * applied are kept in `funnel_stages`, so an unchanged file costs one small read.
 */
@Injectable()
export class FunnelStagesCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger(FunnelStagesCheck.name);

  constructor(
    private readonly database: Database,
    private readonly catalog: FunnelCatalog,
    private readonly stages: FunnelStagesRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      // Reading a funnel's whole progress (a changed file only) may take longer than a statement timeout.
      await this.database.longTransaction((sql) => this.check(sql));
    } catch (error) {
      // Migrations not applied yet (MIGRATE_ON_START=false): the service starts, /ready says
      // what is pending, and the start after migrating records the funnels.
      if (sqlState(error) !== SqlState.undefinedTable) throw error;
      this.logger.warn(
        'funnel_stages does not exist yet (pending migrations): funnels not checked',
      );
    }
  }

  private async check(sql: Sql): Promise<void> {
    await this.stages.lock(sql);
    const applied = await this.stages.applied(sql);
    for (const funnel of this.catalog.funnels) {
      const current = funnel.stages.map((stage) => stage.name);
      const before = applied.get(funnel.name) ?? [];
      // Positions before the first difference keep their meaning; from it on, they need
      // renumbering only if some subject got that far.
      const changedFrom = firstDifference(before, current);
      if (changedFrom === undefined) continue;
      if (
        changedFrom < before.length &&
        (await this.stages.hasProgressFrom(sql, funnel.name, changedFrom))
      ) {
        const { moved, dropped } = await this.stages.renumber(sql, funnel.name, current);
        this.logger.warn(
          `FUNNELS_FILE changed the stages of funnel "${funnel.name}" (${describeChanges(before, current)}): ` +
            `stored progress renumbered by stage name; ${moved} subject(s) now stand at the furthest stage ` +
            `they reached that is still there, ${dropped} reached none and left the funnel`,
        );
      }
      await this.stages.record(sql, funnel.name, current);
    }
  }
}

/** The first position whose stage differs; undefined when both are the same list. */
function firstDifference(
  before: readonly string[],
  current: readonly string[],
): number | undefined {
  const length = Math.max(before.length, current.length);
  for (let i = 0; i < length; i++) if (before[i] !== current[i]) return i;
  return undefined;
}

function describeChanges(before: readonly string[], current: readonly string[]): string {
  return before
    .map((stage, index) => ({ stage, index, now: current.indexOf(stage) }))
    .filter(({ index, now }) => now !== index)
    .map(({ stage, index, now }) =>
      now >= 0
        ? `"${stage}" moved from position ${index + 1} to ${now + 1}`
        : `"${stage}" (position ${index + 1}) is gone`,
    )
    .join(', ');
}
