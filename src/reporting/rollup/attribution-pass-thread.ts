import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { InjectConfig } from '../../config/config.module';
import { ConnectableDatabase } from '../../persistence/orm-options';
import { InjectPrimaryDatabase } from '../../persistence/primary-database';
import { PassOutcome } from './attribution-pass';
import { PassReply, PassRequest, WorkerSetup, reviveError } from './attribution-pass.protocol';

/** How long a closing thread may take to finish its pass and close its connection. */
const CLOSE_TIMEOUT_MS = 5_000;
/** A thread that dies during a pass is started again after this, doubled while it keeps dying. */
const RESTART_BACKOFF_MS = { first: 5_000, max: 300_000 };

/**
 * The pass thread died or is waiting to be started again: an internal failure, not the
 * database's. The rollup cannot be brought up to date meanwhile; raw events can still answer.
 */
export class PassThreadDownError extends Error {
  override readonly name = 'PassThreadDownError';
}

interface Waiting {
  resolve(outcome: PassOutcome): void;
  reject(error: Error): void;
}

/**
 * Runs the refresher's passes on a worker thread with its own connection (one more per
 * process), started on the first pass and again after a crash, so that folding marks
 * never takes the event loop from tracking requests. A thread that dies during a pass (it
 * cannot load, runs out of memory, meets a bug) is started again only by the first pass
 * asked for after a back-off, and passes asked for meanwhile are refused at once; the
 * back-off ends with the first pass that succeeds.
 */
@Injectable()
export class AttributionPassThread implements OnApplicationShutdown {
  private readonly logger = new Logger(AttributionPassThread.name);
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closed = false;
  /** Threads in a row that died during a pass, and when (performance.now()) the next may start. */
  private deathsInARow = 0;
  private restartAt = 0;

  constructor(
    @InjectPrimaryDatabase() private readonly database: ConnectableDatabase,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** One pass of at most `limit` marks, in a transaction of its own. */
  run(limit: number): Promise<PassOutcome> {
    if (this.closed) return Promise.reject(new Error('The attribution pass thread is closed'));
    if (this.worker === undefined && performance.now() < this.restartAt) {
      const reason = `its last ${this.deathsInARow} thread(s) died during a pass`;
      return Promise.reject(
        new PassThreadDownError(`The attribution pass thread is down: ${reason}`),
      );
    }
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    return new Promise<PassOutcome>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ type: 'pass', id, limit } satisfies PassRequest);
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' } satisfies PassRequest);
    const timeout = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
    await exited;
    clearTimeout(timeout);
  }

  private start(): Worker {
    const setup: WorkerSetup = {
      database: this.database,
      settings: {
        timeZone: this.config.reportTimeZone,
        conversionTypes: this.config.conversionEventTypes,
      },
    };
    const worker = spawnPassWorker(setup);
    // Never what keeps the process alive: the app's server and pool do that.
    worker.unref();
    worker.on('message', (reply: PassReply) => {
      if (reply.error === undefined) this.deathsInARow = 0;
      this.settle(reply);
    });
    worker.on('error', (error) => this.logger.error(`Attribution pass thread failed: ${error}`));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      if (this.waiting.size > 0 && !this.closed) this.backOff();
      const error = new PassThreadDownError(`The attribution pass thread exited (code ${code})`);
      for (const waiting of this.waiting.values()) waiting.reject(error);
      this.waiting.clear();
    });
    return worker;
  }

  private backOff(): void {
    const delay = Math.min(
      RESTART_BACKOFF_MS.max,
      RESTART_BACKOFF_MS.first * 2 ** this.deathsInARow++,
    );
    this.restartAt = performance.now() + delay;
    this.logger.error(`Attribution pass thread died during a pass; next start in ${delay} ms`);
  }

  private settle(reply: PassReply): void {
    const waiting = this.waiting.get(reply.id);
    if (waiting === undefined) return;
    this.waiting.delete(reply.id);
    if (reply.error !== undefined) waiting.reject(reviveError(reply.error));
    else waiting.resolve(reply.outcome);
  }
}

function spawnPassWorker(setup: WorkerSetup): Worker {
  const file = join(__dirname, `attribution-pass.worker${extname(__filename)}`);
  if (extname(file) !== '.ts') return new Worker(file, { workerData: setup });
  // The test suite runs the TypeScript sources: the thread compiles them as it loads them.
  const script = `require('ts-node').register({ transpileOnly: true });\nrequire(${JSON.stringify(file)});`;
  return new Worker(script, { eval: true, workerData: setup });
}
