import cluster, { Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { AggregatorRegistry, Registry } from 'prom-client';

/** Set by the primary for each worker it forks (1…WORKERS); not a setting. */
export const WORKER_SLOT_ENV = 'CLUSTER_WORKER_SLOT';

/** A worker to the primary: it answers COLLECT from now on. */
const READY = 'conversion-tracking:cluster-metrics-ready';
/** A worker to the primary: the metrics of every worker, please. */
const REQUEST = 'conversion-tracking:cluster-metrics';
const ANSWER = 'conversion-tracking:cluster-metrics-answer';
/** The primary to a worker: its own metrics, please. */
const COLLECT = 'conversion-tracking:cluster-metrics-collect';
const COLLECTED = 'conversion-tracking:cluster-metrics-collected';
/** How long the primary waits for every ready worker, as prom-client's own aggregation does. */
const COLLECT_TIMEOUT_MS = 5_000;
/** The asking worker waits a little longer than the primary. */
const ANSWER_TIMEOUT_MS = 6_000;

interface Answer {
  type: typeof ANSWER;
  id: string;
  text?: string;
  error?: string;
}

type WorkerMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

interface Collected {
  type: typeof COLLECTED;
  id: number;
  metrics: WorkerMetrics;
}

/**
 * WORKERS > 1, in the primary: answers a worker's request for the metrics of every worker,
 * so a scrape does not depend on which worker the port handed it to. Each worker's series
 * carry its `worker` label: summed, a restarted worker's counters would make the total drop,
 * which Prometheus would read as a reset of all of them.
 * Only workers that said they are ready are asked: one still starting (slow to load on a
 * busy machine) would not hear the question, and the scrape would fail on its timeout.
 */
export function serveClusterMetrics(): void {
  const logger = new Logger('Cluster');
  const ready = new Set<Worker>();
  const collections = new Map<number, (worker: Worker, metrics: WorkerMetrics) => void>();
  let nextCollection = 0;

  /**
   * A worker that does not answer in time (stopped, or its event loop blocked) is left
   * out of that scrape: its series go stale, and the others' are still there to show it.
   */
  const collect = (): Promise<string> => {
    const id = nextCollection++;
    const asked = [...ready].filter((worker) => worker.isConnected());
    const answers: WorkerMetrics[] = [];
    return new Promise((resolve, reject) => {
      // Called from the cluster's event handlers: a throw there would end the primary.
      const finish = () => {
        clearTimeout(timer);
        collections.delete(id);
        try {
          resolve(AggregatorRegistry.aggregate(answers).metrics());
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      };
      const timer = setTimeout(() => {
        logger.warn(
          `/metrics: ${waitingFor.size} worker(s) did not answer within ${COLLECT_TIMEOUT_MS} ms; their series are left out of this scrape`,
        );
        finish();
      }, COLLECT_TIMEOUT_MS);
      const waitingFor = new Set(asked);
      collections.set(id, (worker, metrics) => {
        if (!waitingFor.delete(worker)) return;
        answers.push(metrics);
        if (waitingFor.size === 0) finish();
      });
      for (const worker of asked) worker.send({ type: COLLECT, id }, ignoreClosedChannel);
      if (asked.length === 0) finish();
    });
  };

  cluster.on('exit', (worker) => {
    ready.delete(worker);
    // A worker that died has nothing more to say: the scrapes waiting for it go on without it.
    for (const answered of collections.values()) answered(worker, []);
  });
  // Scrapes arriving together share one collection: each would otherwise copy every
  // worker's registry over IPC.
  let collecting: Promise<string> | undefined;
  const collectShared = () =>
    (collecting ??= collect().finally(() => {
      collecting = undefined;
    }));

  cluster.on('message', (worker, message: { type?: string; id?: unknown }) => {
    if (message?.type === READY) {
      if (!worker.isDead()) ready.add(worker);
    } else if (message?.type === COLLECTED) {
      const collected = message as Collected;
      collections.get(collected.id)?.(worker, collected.metrics);
    } else if (message?.type === REQUEST) {
      const answer = (fields: Partial<Answer>) => {
        // The asking worker may have died while the others were being asked: nobody to answer.
        if (!worker.isConnected()) return;
        worker.send({ type: ANSWER, id: message.id, ...fields }, ignoreClosedChannel);
      };
      collectShared().then(
        (text) => answer({ text }),
        (error: unknown) =>
          answer({ error: error instanceof Error ? error.message : String(error) }),
      );
    }
  });
}

/** A worker that died between the check and the write: its channel is gone, and so is the asker. */
function ignoreClosedChannel(): void {}

/**
 * In a cluster worker: offers this registry to the primary's aggregation, and returns how to
 * read the whole cluster's metrics through the primary. Undefined outside a cluster.
 */
export function clusterMetricsReader(registry: Registry): (() => Promise<string>) | undefined {
  if (!cluster.isWorker) return undefined;
  registry.setDefaultLabels({ worker: process.env[WORKER_SLOT_ENV] ?? String(cluster.worker?.id) });
  const waiting = new Map<string, (answer: Answer) => void>();
  process.on('message', (message: { type?: string; id?: unknown }) => {
    if (message?.type === ANSWER) {
      const answer = message as Answer;
      waiting.get(answer.id)?.(answer);
    } else if (message?.type === COLLECT) {
      // A metric that fails to collect leaves this worker's series out, not the worker down.
      void offerMetrics(registry)
        .catch((): WorkerMetrics => [])
        .then((metrics) =>
          process.send!(
            { type: COLLECTED, id: message.id, metrics },
            undefined,
            {},
            ignoreClosedChannel,
          ),
        )
        .catch(ignoreClosedChannel);
    }
  });
  process.send!({ type: READY });
  return () =>
    new Promise((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`No cluster metrics from the primary within ${ANSWER_TIMEOUT_MS} ms`));
      }, ANSWER_TIMEOUT_MS);
      waiting.set(id, (answer) => {
        clearTimeout(timer);
        waiting.delete(id);
        if (answer.text !== undefined) resolve(answer.text);
        else reject(new Error(`Cluster metrics failed: ${answer.error}`));
      });
      process.send!({ type: REQUEST, id });
    });
}

/**
 * Every series carries its worker's label, so no two workers' values meet and there is
 * nothing to aggregate; but prom-client's aggregation leaves out a metric whose aggregator
 * is `omit`, such as `process_start_time_seconds`, the one that tells Prometheus a worker
 * was replaced.
 */
async function offerMetrics(registry: Registry): Promise<WorkerMetrics> {
  const metrics = await registry.getMetricsAsJSON();
  return metrics.map((metric) => ({ ...metric, aggregator: 'first' }));
}
