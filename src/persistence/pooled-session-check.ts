import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Database } from './database';

/**
 * Behind a transaction pooler the service cannot set its session settings (see
 * orm-options.ts), so the role's or database's own settings apply. Says so at start when
 * they differ from what the service sets itself: the statement timeout it is configured
 * with, and JIT off (the track statement's estimates, made for any group size, would have
 * it compiled on every call once the tables are large).
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
      const [row] = await this.database.query<{ timeout: string; jit: string }>(
        `SELECT (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS timeout,
                current_setting('jit') AS jit`,
      );
      const actual = Number(row?.timeout);
      if (actual !== this.expectedTimeoutMs)
        this.logger.warn(
          `DB_TRANSACTION_POOLING: the server's statement_timeout is ${actual === 0 ? 'off' : `${actual} ms`}, ` +
            `not DB_STATEMENT_TIMEOUT_MS=${this.expectedTimeoutMs}; a pooler cannot carry it per session: ` +
            `set it on the service's role (ALTER ROLE … SET statement_timeout = '${this.expectedTimeoutMs}ms')`,
        );
      if (row?.jit === 'on')
        this.logger.warn(
          "DB_TRANSACTION_POOLING: the server's jit is on, and a pooler cannot turn it off per session: " +
            'on large tables the track statement is then JIT-compiled on every call (tens of times slower); ' +
            "set it on the service's role (ALTER ROLE … SET jit = off)",
        );
    } catch (error) {
      this.logger.warn(`Could not read the session settings: ${(error as Error).message}`);
    }
  }
}
