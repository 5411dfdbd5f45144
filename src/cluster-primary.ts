import cluster, { Worker } from 'node:cluster';
import { Logger } from '@nestjs/common';
import { AppConfig } from './config/app-config';
import { resolveDatabase } from './persistence/database-location';

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

  const fork = (): Worker => cluster.fork(workerEnv);
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error(`Worker ${worker.process.pid} exited (${signal ?? code}); starting a new one`);
    fork();
  });
  for (let i = 0; i < config.http.workers; i++) fork();
  logger.log(`Started ${config.http.workers} workers`);

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal} received: stopping the workers`);
    const workers = Object.values(cluster.workers ?? {}).filter(
      (w): w is Worker => w !== undefined,
    );
    const codes = await Promise.all(
      workers.map((worker) => stopWorker(worker, config.http.shutdownTimeoutMs + 2_000)),
    );
    await database.stop();
    process.exit(codes.every((code) => code === 0) ? 0 : 1);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.once(signal, () => void shutdown(signal));
}

function stopWorker(worker: Worker, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      worker.process.kill('SIGKILL');
      resolve(null);
    }, timeoutMs);
    worker.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    worker.process.kill('SIGTERM');
  });
}
