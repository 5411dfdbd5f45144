import { Injectable } from '@nestjs/common';

/**
 * Aborted when the HTTP server starts closing (SIGTERM). A request that may wait long on
 * something outside (GA4) gives up on it then and answers, rather than hold the drain
 * past SHUTDOWN_TIMEOUT_MS and be cut off without an answer.
 */
@Injectable()
export class ServerClosing {
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;

  abort(): void {
    this.controller.abort();
  }
}
