import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Database, Sql } from './database';

/** The variable that said the database is behind a pooler, named in the warnings. */
export type PoolingSetting = 'DB_TRANSACTION_POOLING' | 'REPORT_DB_TRANSACTION_POOLING';

/**
 * Behind a transaction pooler the service cannot set its session settings (see
 * orm-options.ts), so the role's or database's own settings apply. Warns when they differ
 * from what the service sets itself: the statement timeout it is configured with, and JIT
 * off (the track statement's estimates, made for any group size, would have it compiled
 * on every call once the tables are large; reports over raw events lose to it too).
 * Throws what the query met: the caller decides what a failure means.
 */
export async function checkPooledSession(
  sql: Sql,
  expectedTimeoutMs: number,
  setting: PoolingSetting,
  logger: Logger,
): Promise<void> {
  const [row] = await sql.query<{ timeout: string; jit: string }>(
    `SELECT (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS timeout,
            current_setting('jit') AS jit`,
  );
  const actual = Number(row?.timeout);
  if (actual !== expectedTimeoutMs)
    logger.warn(
      `${setting}: the server's statement_timeout is ${actual === 0 ? 'off' : `${actual} ms`}, ` +
        `not DB_STATEMENT_TIMEOUT_MS=${expectedTimeoutMs}; a pooler cannot carry it per session: ` +
        `set it on the service's role (ALTER ROLE … SET statement_timeout = '${expectedTimeoutMs}ms')`,
    );
  if (row?.jit === 'on')
    logger.warn(
      `${setting}: the server's jit is on, and a pooler cannot turn it off per session: ` +
        'on large tables its statements are then JIT-compiled on every call (tens of times slower); ' +
        "set it on the service's role (ALTER ROLE … SET jit = off)",
    );
}

/** The primary's check, at start; a failure to read the settings is only worth a warning. */
@Injectable()
export class PooledSessionCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger('Database');

  constructor(
    private readonly database: Database,
    private readonly expectedTimeoutMs: number,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await checkPooledSession(
      this.database,
      this.expectedTimeoutMs,
      'DB_TRANSACTION_POOLING',
      this.logger,
    ).catch((error: unknown) =>
      this.logger.warn(`Could not read the session settings: ${(error as Error).message}`),
    );
  }
}
