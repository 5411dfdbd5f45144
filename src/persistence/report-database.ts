import { Inject, Logger, OnApplicationShutdown, Provider } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { isUnreachable } from '../common/http/database-errors';
import { DatabaseUnavailableError } from '../common/http/domain-error';
import { rootCause } from '../common/sql-state';
import { Database, Sql } from './database';
import { ConnectableDatabase, createOrmOptions } from './orm-options';
import { redact } from './database-location';
import { checkPooledSession } from './pooled-session-check';

export const REPORT_DATABASE = Symbol('REPORT_DATABASE');

/** Where report queries read: REPORT_DATABASE_URL (a read replica), else the main database. */
export const InjectReportDatabase = (): ParameterDecorator => Inject(REPORT_DATABASE);

const FIRST_PROBE_MS = 1_000;
const LONGEST_PROBE_MS = 10_000;
const AWAY = 'the report database (a read replica) is unreachable';

/**
 * Reads only: everything that writes (the rollup's refresh included) stays on the primary.
 *
 * A replica that is away (restarting, a network not up yet) must not stop tracking, which
 * never reads it. Once a query finds it unreachable, or the check at start does, reports
 * get a 503 at once, rather than each waiting out the connect timeout (a blackholed
 * address) and queueing behind one another, while a probe tries again, every 1 s up to
 * every 10 s. When it answers, it is checked as at start, and reports read it again.
 */
class ReplicaDatabase implements Sql, OnApplicationShutdown {
  private readonly database: Database;
  private readonly logger = new Logger('Database');
  private probe?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly orm: MikroORM,
    private readonly replica: ConnectableDatabase,
  ) {
    this.database = new Database(orm.em.fork(), { namedStatements: false });
  }

  get away(): boolean {
    return this.probe !== undefined;
  }

  async query<T extends object>(sql: string, params?: unknown[]): Promise<T[]> {
    if (this.away) throw new DatabaseUnavailableError(AWAY, { reading: true });
    return this.database.query<T>(sql, params).catch((error: unknown) => {
      if (!isUnreachable(error)) throw error;
      this.goneAway(error);
      throw new DatabaseUnavailableError(AWAY, { reading: true });
    });
  }

  /**
   * Whether the replica serves the service, as at start: it answers, holds the schema,
   * and (behind a pooler) has the session settings the service cannot set itself. Throws
   * a refusal (a setting to correct) and reports an outage as `false`.
   */
  async check(): Promise<boolean> {
    try {
      // The schema too: a URL naming another database of the same server answers 1.
      await this.database.query('SELECT 1 FROM events LIMIT 0');
      if (this.replica.transactionPooling)
        await checkPooledSession(
          this.database,
          this.replica.statementTimeoutMs,
          'REPORT_DB_TRANSACTION_POOLING',
          this.logger,
        );
      return true;
    } catch (error) {
      // The driver's words alone (ECONNREFUSED) do not say which database it was.
      const where = `${redact(this.replica.url)} (REPORT_DATABASE_URL)`;
      const cause = rootCause(error as Error).message;
      if (!isUnreachable(error))
        throw new Error(`Cannot use the report database at ${where}: ${cause}`);
      this.goneAway(error, `The report database at ${where} is unreachable (${cause})`);
      return false;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probe);
    await this.orm.close();
  }

  private goneAway(error: unknown, message?: string): void {
    if (this.away || this.closed) return;
    this.logger.warn(
      `${message ?? `The report database is unreachable (${rootCause(error as Error).message})`}: ` +
        'reports answer 503 until it answers; tracking goes on',
    );
    this.scheduleProbe(FIRST_PROBE_MS);
  }

  private scheduleProbe(delay: number): void {
    this.probe = setTimeout(() => void this.probeOnce(delay), delay);
    this.probe.unref();
  }

  private async probeOnce(delay: number): Promise<void> {
    let back: boolean;
    try {
      await this.database.query('SELECT 1');
      back = true;
    } catch (error) {
      back = !isUnreachable(error); // it answered, if only to refuse: check() says what
    }
    if (this.closed) return;
    if (!back) return this.scheduleProbe(Math.min(delay * 2, LONGEST_PROBE_MS));
    this.probe = undefined;
    try {
      if (await this.check()) this.logger.log('The report database answers again');
    } catch (refusal) {
      this.logger.error(`${(refusal as Error).message}; reports fail until it is corrected`);
    }
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
      // Not connected by MikroORM at init, which would fail the start on a replica that is
      // away: the check below tells that from one that refuses the service.
      const orm = await MikroORM.init({
        ...createOrmOptions(replica),
        entities: [],
        connect: false,
      });
      const reports = new ReplicaDatabase(orm, replica);
      await reports.check().catch(async (refusal: unknown) => {
        await orm.close();
        throw refusal;
      });
      return reports;
    },
    inject: [Database],
  };
}
