import { Logger } from '@nestjs/common';
import { Lease, ReconciliationRunRepository } from './reconciliation-run.repository';

/**
 * Keeps a scheduled run's claim while this process runs it: renews it every third of its
 * length, and aborts `lost` once the run is another replica's (its claim lapsed and was
 * taken over) or once a full lease has passed without a renewal getting through, since
 * another replica may take it over from then on.
 */
export class RunLease {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private renewedAt = Date.now();
  private renewing = false;

  constructor(
    private readonly runs: ReconciliationRunRepository,
    private readonly runId: string,
    private readonly lease: Lease,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => void this.renew(), Math.max(lease.ms / 3, 50));
    this.timer.unref();
  }

  get lost(): AbortSignal {
    return this.controller.signal;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.lost.aborted) return;
    this.renewing = true;
    // Sent before the database computes the new end: the local count never outlasts it.
    const sentAt = Date.now();
    try {
      if (await this.runs.renewLease(this.runId, this.lease)) this.renewedAt = sentAt;
      else this.giveUp('another replica took the run over');
    } catch (error) {
      this.logger.warn(
        `Could not renew the claim on reconciliation run ${this.runId}: ${String(error)}`,
      );
      if (Date.now() - this.renewedAt >= this.lease.ms)
        this.giveUp(`its claim lapsed unrenewed (${this.lease.ms} ms)`);
    } finally {
      this.renewing = false;
    }
  }

  private giveUp(reason: string): void {
    this.stop();
    this.controller.abort(new Error(reason));
  }
}
