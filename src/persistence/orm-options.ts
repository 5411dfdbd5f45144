import { Options } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { DatabaseConfig } from '../config/app-config';
import { migrationsList } from '../../migrations';

export type ConnectableDatabase = DatabaseConfig & { url: string };

/** One MikroORM configuration for the app, the migration runner and the CLI. */
export function createOrmOptions(database: ConnectableDatabase): Options<PostgreSqlDriver> {
  return {
    driver: PostgreSqlDriver,
    clientUrl: database.url,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: false },
    // The app never relies on an implicit, process-wide identity map.
    allowGlobalContext: false,
    forceUtcTimezone: true,
    pool: {
      min: 0,
      max: database.poolSize,
      // Bounded waits: a request gets a 503 rather than hanging when PostgreSQL is away.
      acquireTimeoutMillis: database.connectTimeoutMs + 1_000,
      createTimeoutMillis: database.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
    },
    driverOptions: {
      connection: {
        connectionTimeoutMillis: database.connectTimeoutMs,
        statement_timeout: database.statementTimeoutMs,
        application_name: 'conversion-tracking',
        // The hot-path statement is prepared once per connection; planning its CTEs anew
        // on every call (PostgreSQL's default for the first executions) cost more than
        // running it. Only named prepared statements are affected by this setting.
        options: '-c plan_cache_mode=force_generic_plan',
      },
    },
    migrations: {
      tableName: 'mikro_orm_migrations',
      path: 'dist/migrations',
      pathTs: 'migrations',
      migrationsList,
      transactional: true,
      allOrNothing: true,
      snapshot: true,
      snapshotName: '.snapshot',
      emit: 'ts',
    },
  };
}
