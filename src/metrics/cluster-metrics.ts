import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, Registry } from 'prom-client';

/** Set by the primary for each worker it forks (1…WORKERS); not a setting. */
export const WORKER_SLOT_ENV = 'CLUSTER_WORKER_SLOT';

const REQUEST = 'conversion-tracking:cluster-metrics';
const ANSWER = 'conversion-tracking:cluster-metrics-answer';
/** prom-client gives up on a silent worker after 5 s; the asking worker waits a little longer. */
const ANSWER_TIMEOUT_MS = 6_000;

interface Answer {
  type: typeof ANSWER;
  id: string;
  text?: string;
  error?: string;
}

/**
 * WORKERS > 1, in the primary: answers a worker's request for the metrics of every worker,
 * gathered by prom-client, so a scrape does not depend on which worker the port handed it
 * to. Each worker's series carry its `worker` label: summed, a restarted worker's counters
 * would make the total drop, which Prometheus would read as a reset of all of them.
 */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: { type?: string; id?: string }) => {
    if (message?.type !== REQUEST) return;
    const answer = (fields: Partial<Answer>) => {
      // The asking worker may have died while the others were being asked: nobody to answer.
      if (!worker.isConnected()) return;
      worker.send({ type: ANSWER, id: message.id, ...fields }, ignoreClosedChannel);
    };
    aggregator.clusterMetrics().then(
      (text) => answer({ text }),
      (error: unknown) => answer({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

/**
 * What a worker offers the aggregation. Every series carries its worker's label, so no two
 * workers' values meet and there is nothing to aggregate; but prom-client leaves out a
 * metric whose aggregator is `omit`, such as `process_start_time_seconds`, the one that
 * tells Prometheus a worker was replaced.
 */
class EveryValueKept extends Registry {
  constructor(private readonly source: Registry) {
    super();
  }

  override async getMetricsAsJSON(): ReturnType<Registry['getMetricsAsJSON']> {
    const metrics = await this.source.getMetricsAsJSON();
    return metrics.map((metric) => ({ ...metric, aggregator: 'first' }));
  }
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
  AggregatorRegistry.setRegistries([new EveryValueKept(registry)]);
  new AggregatorRegistry(); // registers the worker's answer to the primary's requests
  const waiting = new Map<string, (answer: Answer) => void>();
  process.on('message', (message: Answer) => {
    if (message?.type === ANSWER) waiting.get(message.id)?.(message);
  });
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
