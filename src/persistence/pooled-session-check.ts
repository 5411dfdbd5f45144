import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Database } from './database';

/**
 * Behind a transaction pooler the service cannot set its statement timeout per session
 * (see orm-options.ts), so the role's or database's own setting is what bounds a slow
 * statement. Says so at start when that setting differs from DB_STATEMENT_TIMEOUT_MS.
 */
@Injectable()
export class PooledSessionCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger('Database');

  constructor(
    private readonly database: Database,
    private readonly expectedTimeoutMs: number,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      const [row] = await this.database.query<{ setting: string }>(
        "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'",
      );
      const actual = Number(row?.setting);
      if (actual === this.expectedTimeoutMs) return;
      this.logger.warn(
        `DB_TRANSACTION_POOLING: the server's statement_timeout is ${actual === 0 ? 'off' : `${actual} ms`}, ` +
          `not DB_STATEMENT_TIMEOUT_MS=${this.expectedTimeoutMs}; a pooler cannot carry it per session: ` +
          `set it on the service's role (ALTER ROLE … SET statement_timeout = '${this.expectedTimeoutMs}ms')`,
      );
    } catch (error) {
      this.logger.warn(`Could not read statement_timeout: ${(error as Error).message}`);
    }
  }
}
