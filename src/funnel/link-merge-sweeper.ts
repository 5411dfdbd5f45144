import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { FunnelService } from './funnel.service';

const JOB_NAME = 'funnel-link-merges';
const INTERVAL_MS = 5_000;
const MERGES_PER_RUN = 500;

/**
 * Finishes the merges of visitors into the users they were linked to, on every replica
 * (a merge is claimed by one). The linking transaction merges at once; this catches the
 * moves of statements that raced it.
 */
@Injectable()
export class LinkMergeSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(LinkMergeSweeper.name);
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly funnels: FunnelService,
    private readonly registry: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    this.registry.addInterval(
      JOB_NAME,
      setInterval(() => void this.runInBackground(), INTERVAL_MS),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Absent when the app was closed without being started (the OpenAPI export).
    if (this.registry.doesExist('interval', JOB_NAME)) this.registry.deleteInterval(JOB_NAME);
    await this.running;
  }

  /** One run; the schedule calls it, and so may a test. Returns how many visitors merged. */
  sweep(): Promise<number> {
    return this.funnels.mergeLinkedVisitorsAgain(MERGES_PER_RUN);
  }

  private runInBackground(): void {
    if (this.running !== undefined) return;
    this.running = this.sweep()
      .catch((error: Error) => {
        const causes =
          error instanceof AggregateError ? `: ${error.errors.slice(0, 3).join('; ')}` : '';
        this.logger.warn(
          `Merging linked visitors failed (kept for the next run): ${error.message}${causes}`,
        );
      })
      .finally(() => (this.running = undefined));
  }
}
