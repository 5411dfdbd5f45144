import { Injectable } from '@nestjs/common';

/**
 * The stop of the HTTP server, as the parts that answer requests see it. `stopping` from
 * the signal on: /ready answers 503, so that load balancers stop routing here while the
 * service still serves (SHUTDOWN_DELAY_MS). `signal` aborted once the server drains its
 * connections: every answer closes its connection, and a request that may wait long on
 * something outside (GA4) gives up on it and answers, rather than hold the drain past
 * SHUTDOWN_TIMEOUT_MS and be cut off without an answer.
 */
@Injectable()
export class ServerClosing {
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  private stopRequested = false;

  get stopping(): boolean {
    return this.stopRequested || this.signal.aborted;
  }

  stop(): void {
    this.stopRequested = true;
  }

  abort(): void {
    this.controller.abort();
  }
}
