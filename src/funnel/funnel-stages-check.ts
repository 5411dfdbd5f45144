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
      await this.database.transaction((sql) => this.check(sql));
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
      const current: StagePositions = new Map(funnel.stages.map((stage, i) => [stage.name, i]));
      const before = applied.get(funnel.name);
      const moved = [...(before ?? [])]
        .filter(([stage, index]) => current.get(stage) !== index)
        .map(([stage, index]) =>
          current.has(stage)
            ? `"${stage}" moved from position ${index + 1} to ${current.get(stage)! + 1}`
            : `"${stage}" (position ${index + 1}) is gone`,
        );
      if (moved.length === 0) {
        if (before?.size !== current.size) await this.stages.record(sql, funnel.name, current);
        continue;
      }
      if (await this.stages.hasProgress(sql, funnel.name)) {
        problems.push(`funnel "${funnel.name}": ${moved.join(', ')}`);
        continue;
      }
      await this.stages.record(sql, funnel.name, current);
    }
    if (problems.length > 0) {
      throw new Error(
        `FUNNELS_FILE changes stages that stored progress refers to by position (${problems.join('; ')}): ` +
          'keep existing stages in place and add new ones at the end, or give the changed funnel a new name',
      );
    }
  }
}
