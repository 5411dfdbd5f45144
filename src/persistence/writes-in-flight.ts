import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/**
 * The public writes under way (counted from their handler on). The pool closes after every
 * module's beforeApplicationShutdown, and this one waits for them: a request whose client
 * went away before its answer is still stored (the HTTP server's close waits only for the
 * connections left), with all of it (a batch's events after the first, a link made on
 * the way). One whose client went away before it reached its handler (still in the rate
 * limit's or the body's hooks) is not waited for: it was never answered, nor taken.
 */
@Injectable()
export class WritesInFlight implements BeforeApplicationShutdown {
  private count = 0;
  private settled?: () => void;

  during<T>(write: () => Promise<T>): Promise<T> {
    this.count++;
    return write().finally(() => {
      if (--this.count === 0) this.settled?.();
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.count > 0) await new Promise<void>((resolve) => (this.settled = resolve));
  }
}
