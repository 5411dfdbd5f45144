import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../app.module';
import { loadConfigOrExit } from '../config/load-config-or-exit';
import { resolveDatabase } from '../persistence/database-location';
import { ReconciliationRunRepository } from '../reconciliation/reconciliation-run.repository';
import { ReconciliationService } from '../reconciliation/reconciliation.service';
import { RunLease } from '../reconciliation/run-lease';
import { errorText } from '../common/error-text';

const USAGE = 'usage: npm run reconcile -- [--start-date YYYY-MM-DD] [--end-date YYYY-MM-DD]';

/**
 * `npm run reconcile -- --start-date … --end-date …`: one reconciliation against GA4,
 * stored as a run like the scheduled ones, its report printed as JSON. Exit code 0 when it
 * ran (whatever the discrepancies), 1 when it failed or was stopped (SIGINT, SIGTERM: stored
 * as interrupted), 2 on bad arguments.
 */
async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: { 'start-date': { type: 'string' }, 'end-date': { type: 'string' } },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  // stdout carries the report only; what the service logs goes to stderr, warnings and errors only.
  Logger.overrideLogger(['warn', 'error', 'fatal']);
  const config = loadConfigOrExit();
  // No schedule and no background work in a one-off command.
  config.reconciliation.cron = undefined;
  config.reportRefreshIntervalMs = 0;
  const database = await resolveDatabase(config.database, undefined, 'command');
  const app = await NestFactory.createApplicationContext(
    AppModule.forRoot({ config, database: database.database }),
    {
      logger: ['error', 'warn'],
    },
  );
  try {
    const reconciliation = app.get(ReconciliationService);
    let days;
    try {
      days = reconciliation.resolveRange({
        start_date: args['start-date'],
        end_date: args['end-date'],
      });
    } catch (error) {
      console.error(`${(error as Error).message}\n${USAGE}`);
      return 2;
    }
    const runs = app.get(ReconciliationRunRepository);
    // Claimed like a scheduled run: a command killed outright leaves no run `running` for ever.
    const lease = { owner: randomUUID(), ms: config.reconciliation.leaseMs };
    const zone = await reconciliation.likelyPropertyZone();
    const claimSentAt = Date.now();
    const runId = await runs.createCommandRun(days(zone), lease);
    const claim = new RunLease(runs, runId, lease, new Logger('Reconcile'), claimSentAt);
    const stopped = new AbortController();
    const stop = (signal: NodeJS.Signals) => {
      // Said at once: the run is stored as interrupted only once what it waits for answers.
      console.error(`${signal} received: stopping the reconciliation`);
      stopped.abort(new Error(`stopped by ${signal}`));
    };
    process.once('SIGINT', stop).once('SIGTERM', stop);
    try {
      const signal = AbortSignal.any([stopped.signal, claim.lost]);
      const report = await reconciliation.reconcile(days, { signal });
      // The database phase does not watch the signal: a stop asked meanwhile still stops.
      stopped.signal.throwIfAborted();
      if (!(await runs.finish(runId, { report }, lease.owner)))
        throw new Error('The run could not be stored: its claim lapsed');
      console.log(JSON.stringify(report, null, 2));
      return 0;
    } catch (error) {
      if (stopped.signal.aborted) {
        await runs.interrupt(runId, lease.owner);
        console.error(`Reconciliation ${String(stopped.signal.reason)}: stored as interrupted`);
      } else if (claim.lost.aborted) {
        console.error(`Reconciliation given up: ${String(claim.lost.reason)}`);
      } else {
        const { message } = await runs.fail(runId, error, lease.owner);
        console.error(`Reconciliation failed: ${message}`);
      }
      return 1;
    } finally {
      claim.stop();
      process.off('SIGINT', stop).off('SIGTERM', stop);
    }
  } finally {
    await app.close();
    await database.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Nest writes fatal to stdout; a command's stdout is its output.
    new Logger('Reconcile').error(errorText(error));
    process.exit(1);
  },
);
