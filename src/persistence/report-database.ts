import { Inject, OnApplicationShutdown, Provider } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { Database, Sql } from './database';
import { ConnectableDatabase, createOrmOptions } from './orm-options';
import { redact } from './database-location';

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
      const reportUrl = database.reportUrl;
      const orm = await MikroORM.init({
        ...createOrmOptions({ ...database, url: reportUrl }),
        entities: [],
      }).catch((error: unknown) => {
        // The driver's words alone (ECONNREFUSED) do not say which database it was.
        throw new Error(
          `Cannot connect to the report database at ${redact(reportUrl)} (REPORT_DATABASE_URL): ${error instanceof Error ? error.message : String(error)}`,
        );
      });
      return new ReplicaDatabase(orm);
    },
    inject: [Database],
  };
}
