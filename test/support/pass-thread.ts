import type { Worker } from 'node:worker_threads';
import { AttributionPassThread } from '../../src/reporting/rollup/attribution-pass-thread';

/** The pass thread's worker, or undefined when none runs: private on purpose, for crash tests. */
export const passWorkerOf = (thread: AttributionPassThread): Worker | undefined =>
  (thread as unknown as { worker: Worker | undefined }).worker;

/**
 * Makes the thread refuse passes for its restart back-off: the running worker (if any) is
 * killed, then the next one dies before answering its first pass.
 */
export async function knockDownPassThread(thread: AttributionPassThread): Promise<void> {
  await passWorkerOf(thread)?.terminate();
  const pass = thread.run(1).catch((error: unknown) => error);
  await passWorkerOf(thread)!.terminate();
  await pass;
}
