import { Inject, Logger, OnApplicationShutdown, Provider } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { isUnreachable } from '../common/http/database-errors';
import { rootCause } from '../common/sql-state';
import { Database, Sql } from './database';
import { ConnectableDatabase, createOrmOptions } from './orm-options';
import { redact } from './database-location';
import { checkPooledSession } from './pooled-session-check';

export const REPORT_DATABASE = Symbol('REPORT_DATABASE');

/** Where report queries read: REPORT_DATABASE_URL (a read replica), else the main database. */
export const InjectReportDatabase = (): ParameterDecorator => Inject(REPORT_DATABASE);

/** Reads only: everything that writes (the rollup's refresh included) stays on the primary. */
class ReplicaDatabase implements Sql, OnApplicationShutdown {
  private readonly database: Database;

  constructor(private readonly orm: MikroORM) {
    this.database = new Database(orm.em.fork(), { namedStatements: false });
  }

  query<T extends object>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.database.query<T>(sql, params);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.orm.close();
  }
}

export function reportDatabaseProvider(database: ConnectableDatabase): Provider {
  return {
    provide: REPORT_DATABASE,
    useFactory: async (primary: Database): Promise<Sql> => {
      if (database.reportUrl === undefined) return primary;
      const replica: ConnectableDatabase = {
        ...database,
        url: database.reportUrl,
        transactionPooling: database.reportTransactionPooling,
      };
      // Connects on first use, not here: the pool opens connections as queries need them.
      const orm = await MikroORM.init({
        ...createOrmOptions(replica),
        entities: [],
        connect: false,
      });
      const reports = new ReplicaDatabase(orm);
      await checkAtStart(reports, replica).catch(async (error: unknown) => {
        await orm.close();
        throw error;
      });
      return reports;
    },
    inject: [Database],
  };
}

/**
 * A replica that refuses the service (no such database, a wrong password) is a setting to
 * correct and stops the start. One that is away (restarting, a network not up yet) must
 * not stop tracking, which never reads it: the service starts, and reports answer 503
 * `database_unavailable` until the replica answers.
 */
async function checkAtStart(reports: Sql, replica: ConnectableDatabase): Promise<void> {
  const logger = new Logger('Database');
  try {
    if (replica.transactionPooling)
      await checkPooledSession(
        reports,
        replica.statementTimeoutMs,
        'REPORT_DB_TRANSACTION_POOLING',
        logger,
      );
    else await reports.query('SELECT 1');
  } catch (error) {
    // The driver's words alone (ECONNREFUSED) do not say which database it was.
    const where = `${redact(replica.url)} (REPORT_DATABASE_URL): ${rootCause(error as Error).message}`;
    if (!isUnreachable(error)) throw new Error(`Cannot use the report database at ${where}`);
    logger.warn(
      `The report database at ${where} is unreachable: reports answer 503 until it answers; tracking goes on`,
    );
  }
}
