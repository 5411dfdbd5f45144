import cluster, { Worker } from 'node:cluster';
import { Logger } from '@nestjs/common';
import { AppConfig } from './config/app-config';
import { WORKER_SLOT_ENV, serveClusterMetrics } from './metrics/cluster-metrics';
import { resolveDatabase } from './persistence/database-location';

const RESTART_DELAY_MS = 1_000;
const RESTART_WINDOW_MS = 60_000;
const MAX_RESTARTS_IN_WINDOW = 5;

/**
 * WORKERS > 1: this process only supervises. It resolves the database once (starting
 * and migrating the embedded one if DATABASE_URL is unset), forks the workers that
 * serve on the shared port, replaces a worker that dies, and on SIGTERM stops them
 * all gracefully before stopping the database and exiting.
 */
export async function runClusterPrimary(config: AppConfig): Promise<void> {
  const logger = new Logger('Cluster');
  const database = await resolveDatabase(config.database);
  const workerEnv = { DATABASE_URL: database.database.url };
  let stopping = false;

  const slots = new Map<Worker, number>();
  // A replacement takes its predecessor's slot, and so its metrics' `worker` label: its
  // counters restart from zero in that series alone, which Prometheus reads as a reset.
  const fork = (slot: number): Worker => {
    const worker = cluster
      .fork({ ...workerEnv, [WORKER_SLOT_ENV]: String(slot) })
      // A message to a worker that has just died fails with EPIPE; unheard, that error
      // would end the primary, and with it every worker.
      .on('error', (error) => logger.warn(`Worker channel: ${error.message}`));
    slots.set(worker, slot);
    return worker;
  };
  // A worker that keeps dying (database gone, port taken) must not be restarted in a tight loop.
  const recentDeaths: number[] = [];
  cluster.on('exit', (worker, code, signal) => {
    const slot = slots.get(worker) ?? 0;
    slots.delete(worker);
    if (stopping) return;
    const now = Date.now();
    recentDeaths.push(now);
    while (recentDeaths.length > 0 && recentDeaths[0] < now - RESTART_WINDOW_MS)
      recentDeaths.shift();
    if (recentDeaths.length > MAX_RESTARTS_IN_WINDOW) {
      logger.fatal(
        `Workers keep exiting (${recentDeaths.length} in ${RESTART_WINDOW_MS / 1000} s); stopping`,
      );
      void shutdown('worker failures', 1);
      return;
    }
    logger.error(
      `Worker ${worker.process.pid} exited (${signal ?? code}); starting a new one in 1 s`,
    );
    setTimeout(() => {
      if (!stopping) fork(slot);
    }, RESTART_DELAY_MS);
  });
  serveClusterMetrics();
  for (let slot = 1; slot <= config.http.workers; slot++) fork(slot);
  logger.log(`Started ${config.http.workers} workers`);

  async function shutdown(reason: string, exitCode = 0): Promise<void> {
    // Repeated (a group signal, a supervisor's retry): the workers are already stopping.
    if (stopping) return;
    stopping = true;
    logger.log(`${reason}: stopping the workers`);
    const workers = Object.values(cluster.workers ?? {}).filter(
      (w): w is Worker => w !== undefined,
    );
    const codes = await Promise.all(
      workers.map((worker) => stopWorker(worker, config.http.shutdownTimeoutMs + 2_000)),
    );
    await database.stop();
    process.exit(exitCode === 0 && codes.every((code) => code === 0) ? 0 : 1);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.on(signal, () => void shutdown(signal));
}

function stopWorker(worker: Worker, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      worker.process.kill('SIGKILL');
      resolve(null);
    }, timeoutMs);
    worker.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Ended by this SIGTERM itself: a replacement still loading, before its handler
      // existed. It never served, so nothing was cut short.
      resolve(signal === 'SIGTERM' ? 0 : code);
    });
    worker.process.kill('SIGTERM');
  });
}
