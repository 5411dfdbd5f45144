import { Options } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { PoolConfig } from 'pg';
import { DatabaseConfig } from '../config/app-config';
import { migrationsList } from '../../migrations';

export type ConnectableDatabase = DatabaseConfig & { url: string };

/** Where MikroORM records the migrations applied. */
export const MIGRATIONS_TABLE = 'mikro_orm_migrations';

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
    // knex's own pool option (MikroORM's `pool` type does not know it): checked on acquire.
    driverOptions: { connection: connectionOptions(database), pool: { validate: isUsable } },
    migrations: {
      tableName: MIGRATIONS_TABLE,
      path: 'dist/migrations',
      pathTs: 'migrations',
      migrationsList,
      transactional: true,
      allOrNothing: true,
      // Off at run time: after applying migrations MikroORM writes the database's schema
      // over the committed snapshot, so a test migrating part of the way rewrote it.
      // The CLI (src/mikro-orm.config.ts), which creates migrations, turns it on.
      snapshot: false,
      snapshotName: '.snapshot',
      emit: 'ts',
    },
  };
}

/**
 * Session settings sent at connect time. A transaction-mode pooler refuses startup
 * parameters it does not know and would not keep them anyway (the next transaction may
 * run on another server session): there the role's own settings apply instead.
 */
function connectionOptions(database: ConnectableDatabase): PoolConfig {
  const common = {
    connectionTimeoutMillis: database.connectTimeoutMs,
    application_name: 'conversion-tracking',
    // statement_timeout cannot fire for a query the server never received (a partition, a
    // frozen server or proxy): past it and a margin the driver gives up by itself (503).
    query_timeout: database.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    // Lets the kernel find, after its own probe interval and count (minutes, by default),
    // connections whose peer vanished while they sat idle in the pool.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
  if (database.transactionPooling) return common;
  return {
    ...common,
    statement_timeout: database.statementTimeoutMs,
    // The hot-path statement is prepared once per connection; planning its CTEs anew
    // on every call (PostgreSQL's default for the first executions) cost more than
    // running it. It applies to every statement sent with bind parameters: the rest
    // of the SQL goes through MikroORM, which inlines values, so it keeps custom plans.
    // JIT off: that generic plan is costed for any group size, and once the funnel tables
    // are large its cost passes jit_above_cost, so a server with JIT compiled the track
    // statement on every call (~200 ms, tens of times its run); reports over raw events,
    // planned from estimates skewed data puts far off, lost about a second to it too.
    options: '-c plan_cache_mode=force_generic_plan -c jit=off',
  };
}

const QUERY_TIMEOUT_MARGIN_MS = 1_000;
// A query that failed is handed back before its ReadyForQuery arrives, which may come in
// the next read: a healthy connection is ready again well within this.
const SETTLE_MS = 100;

type PooledClient = EventEmitter & { readyForQuery?: boolean; connection?: { stream?: Socket } };

/**
 * A connection whose query timed out in the driver still waits for that query's answer,
 * and every later query would queue behind it: such a connection is dropped, not reused.
 */
async function isUsable(client: PooledClient): Promise<boolean> {
  if (client.readyForQuery !== false) return true;
  // pg emits 'drain' once it is ready for a query with none queued.
  const settled = await new Promise<boolean>((resolve) => {
    const onDrain = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      client.off('drain', onDrain);
      resolve(false);
    }, SETTLE_MS);
    client.once('drain', onDrain);
  });
  if (!settled) client.connection?.stream?.destroy();
  return settled;
}
