import { DynamicModule, Global, Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { EntityManager } from '@mikro-orm/postgresql';
import { Database } from './database';
import { PooledSessionCheck } from './pooled-session-check';
import { REPORT_DATABASE, reportDatabaseProvider } from './report-database';
import { ConnectableDatabase, createOrmOptions } from './orm-options';
import { PRIMARY_DATABASE } from './primary-database';
import { WritesInFlight } from './writes-in-flight';

/** The one MikroORM connection every feature module shares. */
@Global()
@Module({})
export class PersistenceModule {
  static forRoot(database: ConnectableDatabase): DynamicModule {
    return {
      module: PersistenceModule,
      imports: [
        MikroOrmModule.forRoot({
          ...createOrmOptions(database),
          autoLoadEntities: true,
          // No per-request middleware on the hot path: services fork the EntityManager they need.
          registerRequestContext: false,
        }),
      ],
      providers: [
        {
          provide: Database,
          useFactory: (em: EntityManager) =>
            new Database(em, { namedStatements: !database.transactionPooling }),
          inject: [EntityManager],
        },
        ...(database.transactionPooling
          ? [
              {
                provide: PooledSessionCheck,
                useFactory: (db: Database) =>
                  new PooledSessionCheck(db, database.statementTimeoutMs),
                inject: [Database],
              },
            ]
          : []),
        reportDatabaseProvider(database),
        { provide: PRIMARY_DATABASE, useValue: database },
        WritesInFlight,
      ],
      exports: [Database, REPORT_DATABASE, PRIMARY_DATABASE, WritesInFlight],
    };
  }
}
