import { Options } from '@mikro-orm/core';
import { loadConfig } from './config/app-config';
import { createOrmOptions } from './persistence/orm-options';
import { FunnelProgress } from './funnel/funnel-progress.entity';
import { FunnelStage } from './funnel/funnel-stage.entity';
import { FunnelStageReached } from './funnel/funnel-stage-reached.entity';
import { FunnelTransition } from './funnel/funnel-transition.entity';
import { FunnelLinkMerge } from './funnel/funnel-link-merge.entity';
import { FunnelUpdateRequest } from './funnel/funnel-update-request.entity';
import { AttributionDaily } from './reporting/rollup/attribution-daily.entity';
import { AttributionMark } from './reporting/rollup/attribution-mark.entity';
import { AttributionState } from './reporting/rollup/attribution-state.entity';
import { ConversionCredit } from './reporting/rollup/conversion-credit.entity';
import { ReconciliationRun } from './reconciliation/reconciliation-run.entity';
import { RetentionState } from './retention/retention-state.entity';
import { IdentityLink } from './tracking/identity-link.entity';
import { TrackedEvent } from './tracking/tracked-event.entity';
import { EventId } from './tracking/event-id.entity';

/** Configuration for the MikroORM CLI (migration:create, migration:check). */
function cliOptions(): Options {
  const config = loadConfig(process.env);
  if (config.database.url === undefined) {
    throw new Error(
      'The MikroORM CLI needs DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/conversions)',
    );
  }
  const options = createOrmOptions({ ...config.database, url: config.database.url });
  return {
    ...options,
    migrations: { ...options.migrations, snapshot: true },
    entities: [
      TrackedEvent,
      EventId,
      IdentityLink,
      FunnelProgress,
      FunnelStage,
      FunnelStageReached,
      FunnelTransition,
      FunnelLinkMerge,
      FunnelUpdateRequest,
      AttributionMark,
      ConversionCredit,
      AttributionDaily,
      AttributionState,
      ReconciliationRun,
      RetentionState,
    ],
  };
}

export default cliOptions();
