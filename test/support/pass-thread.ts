import type { Worker } from 'node:worker_threads';
import { expect } from 'vitest';
import {
  AttributionPassThread,
  PassThreadDownError,
} from '../../src/reporting/rollup/attribution-pass-thread';

/** The pass thread's worker, or undefined when none runs: private on purpose, for crash tests. */
export const passWorkerOf = (thread: AttributionPassThread): Worker | undefined =>
  (thread as unknown as { worker: Worker | undefined }).worker;

/**
 * Makes the thread refuse passes for its restart back-off: its worker, if any, is killed,
 * then the next one dies with a pass in flight. A worker needs the best part of a second
 * to load, so it cannot answer before it is terminated; the end state is checked anyway.
 */
export async function knockDownPassThread(thread: AttributionPassThread): Promise<void> {
  await passWorkerOf(thread)?.terminate();
  const pass = thread.run(1);
  await passWorkerOf(thread)?.terminate();
  await expect(pass).rejects.toBeInstanceOf(PassThreadDownError);
  await expect(thread.run(1)).rejects.toBeInstanceOf(PassThreadDownError);
  expect(passWorkerOf(thread)).toBeUndefined();
}
