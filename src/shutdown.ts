import { Logger } from '@nestjs/common';
import { errorText } from './common/error-text';

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * SIGTERM and SIGINT from the first step of the start (once the code is loaded: a signal
 * before that ends the process at once, nothing having started), not only once serving: an
 * orchestrator stopping a replica that is still starting (the embedded PostgreSQL coming
 * up, migrations, module start-up) gets the same clean stop and exit 0, at the end of the
 * step under way, with what has started stopped in reverse order. Either way the stop is
 * bounded by SHUTDOWN_TIMEOUT_MS, counted from the signal.
 */
export class Shutdown {
  private readonly logger = new Logger('Bootstrap');
  private readonly teardown: Array<() => Promise<void>> = [];
  private requested?: string;
  private serving = false;
  private stopping = false;
  private deadline?: NodeJS.Timeout;

  constructor(private readonly timeoutMs: number) {
    for (const signal of STOP_SIGNALS) process.on(signal, () => this.onSignal(signal));
  }

  /** What stops the part that just started; the parts stop in the reverse of their start. */
  onStop(stop: () => Promise<void>): void {
    this.teardown.unshift(stop);
  }

  /** Between start-up steps: a stop asked for meanwhile happens now (and never returns). */
  async checkpoint(): Promise<void> {
    if (this.requested !== undefined) await this.stop();
  }

  /** The service is listening: a signal from now on stops it at once. */
  async servingNow(): Promise<void> {
    this.serving = true;
    await this.checkpoint();
  }

  private onSignal(signal: string): void {
    if (this.requested !== undefined) {
      // A signal sent to the process group reaches a worker twice (from the sender and
      // from the primary), and a supervisor may repeat it: the stop goes on, bounded by
      // SHUTDOWN_TIMEOUT_MS, rather than Node's default ending it mid-request.
      this.logger.log(`${signal} received again: still stopping`);
      return;
    }
    this.requested = signal;
    this.deadline = setTimeout(() => {
      this.logger.error(`Shutdown took longer than ${this.timeoutMs} ms; exiting`);
      process.exit(1);
    }, this.timeoutMs).unref();
    if (!this.serving) {
      this.logger.log(`${signal} received while starting: stopping when the current step ends`);
      return;
    }
    this.logger.log(`${signal} received: refusing new requests, finishing in-flight ones`);
    void this.stop();
  }

  private async stop(): Promise<never> {
    if (!this.stopping) {
      this.stopping = true;
      let failed = false;
      // A part that fails to stop must not keep the others (the embedded PostgreSQL among
      // them) from stopping.
      for (const stop of this.teardown) {
        await stop().catch((error: unknown) => {
          failed = true;
          this.logger.error(`Stopping a part failed: ${errorText(error)}`);
        });
      }
      clearTimeout(this.deadline);
      if (!failed) this.logger.log('Stopped cleanly');
      return process.exit(failed ? 1 : 0);
    }
    // Called from a checkpoint while a stop is already under way: the start goes no further.
    return new Promise<never>(() => undefined);
  }
}
