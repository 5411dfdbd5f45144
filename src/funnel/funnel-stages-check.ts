import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SqlState, sqlState } from '../common/sql-state';
import { Database, Sql } from '../persistence/database';
import { FunnelCatalog } from './funnel-catalog';
import { FunnelStagesRepository, StagePositions } from './funnel-stages.repository';

/**
 * Stored progress records each stage by its position in the funnel. A FUNNELS_FILE that
 * moves, removes or renames a stage of a funnel with progress would silently change what
 * that progress means (a subject at "customer" read as "signup"), so the start is refused,
 * naming the stages; stages added at the end, changed event types and new funnels are
 * fine. Each funnel's stages as last applied are kept in `funnel_stages`.
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
    const problems: string[] = [];
    for (const funnel of this.catalog.funnels) {
      const current = funnel.stages.map((stage) => stage.name);
      const before = inOrder(applied.get(funnel.name));
      // Positions before the first difference keep their meaning; from it on, only if no
      // subject ever got that far (rolling back a release that added a stage, say).
      const changedFrom = firstDifference(before, current);
      if (changedFrom === undefined) continue;
      if (
        changedFrom < before.length &&
        (await this.stages.hasProgressFrom(sql, funnel.name, changedFrom))
      ) {
        problems.push(`funnel "${funnel.name}": ${describeChanges(before, current)}`);
        continue;
      }
      await this.stages.record(sql, funnel.name, new Map(current.map((name, i) => [name, i])));
    }
    if (problems.length > 0) {
      throw new Error(
        `FUNNELS_FILE changes stages that stored progress refers to by position (${problems.join('; ')}): ` +
          'keep existing stages in place and add new ones at the end, or give the changed funnel a new name',
      );
    }
  }
}

function inOrder(stages: StagePositions | undefined): string[] {
  return [...(stages ?? [])].sort((a, b) => a[1] - b[1]).map(([name]) => name);
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
