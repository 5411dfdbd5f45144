import { Logger } from '@nestjs/common';
import { Lease, ReconciliationRunRepository } from './reconciliation-run.repository';

/**
 * Keeps a scheduled run's claim while this process runs it: renews it every third of its
 * length, and aborts `lost` once the run is another replica's (its claim lapsed and was
 * taken over) or once a full lease has passed without a renewal getting through, since
 * another replica may take it over from then on. That deadline is kept by its own timer,
 * so a renewal that hangs (database unreachable) cannot hold it off.
 */
export class RunLease {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private deadline?: NodeJS.Timeout;
  private renewing = false;
  // A renewal may still be in flight when its run ends: its answer must change nothing.
  private stopped = false;

  /** `claimSentAt`: when the claim was sent, before the database computed its end. */
  constructor(
    private readonly runs: ReconciliationRunRepository,
    private readonly runId: string,
    private readonly lease: Lease,
    private readonly logger: Logger,
    claimSentAt: number,
  ) {
    this.timer = setInterval(() => void this.renew(), Math.max(lease.ms / 3, 50));
    this.timer.unref();
    this.keepUntil(claimSentAt + lease.ms);
  }

  get lost(): AbortSignal {
    return this.controller.signal;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.deadline);
  }

  private keepUntil(until: number): void {
    clearTimeout(this.deadline);
    this.deadline = setTimeout(
      () => this.giveUp(`its claim lapsed unrenewed (${this.lease.ms} ms)`),
      Math.max(until - Date.now(), 0),
    );
    this.deadline.unref();
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.stopped || this.lost.aborted) return;
    this.renewing = true;
    // Sent before the database computes the new end: the local count never outlasts it.
    const sentAt = Date.now();
    try {
      const renewed = await this.runs.renewLease(this.runId, this.lease);
      if (this.stopped || this.lost.aborted) return;
      if (renewed) this.keepUntil(sentAt + this.lease.ms);
      else this.giveUp('another replica took the run over');
    } catch (error) {
      if (this.stopped) return;
      this.logger.warn(
        `Could not renew the claim on reconciliation run ${this.runId}: ${String(error)}`,
      );
    } finally {
      this.renewing = false;
    }
  }

  private giveUp(reason: string): void {
    this.stop();
    this.controller.abort(new Error(reason));
  }
}
