import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client, PoolConfig } from 'pg';
import { migrationsList } from '../../migrations';
import { sqlState, SqlState } from '../common/sql-state';
import { ConnectableDatabase, MIGRATIONS_TABLE, createOrmOptions } from './orm-options';

// Session-level, on a connection of its own: a transaction held open for the lock would
// make any migration that waits for older transactions wait for the lock's own.
const MIGRATIONS_LOCK = "hashtext('conversion-tracking:migrations')";
// Long enough for another replica's migrations; a lock never released (taken through a
// transaction pooler, whose server session outlives ours) must not hang a start forever.
const LOCK_WAIT = '10min';

/**
 * How long a migration's statement waits for a table lock before it gives up, and how many
 * times the migrations are tried again (after 1 s, 2 s, … up to 10 s) when it does. While
 * a schema change waits for a lock (a running transaction of the version being replaced),
 * every query of that table queues behind it: the wait must be short, the patience long.
 */
export interface TableLockWait {
  ms: number;
  attempts: number;
}
const TABLE_LOCK_WAIT: TableLockWait = { ms: 2_000, attempts: 30 };

/**
 * Applies pending migrations and returns their names. Replicas starting together take
 * turns on an advisory lock: the first applies them, the others then find none pending.
 */
export async function migrateDatabase(
  database: ConnectableDatabase,
  {
    lockWait = LOCK_WAIT,
    tableLockWait = TABLE_LOCK_WAIT,
  }: { lockWait?: string; tableLockWait?: TableLockWait } = {},
): Promise<string[]> {
  // Should the lock's session die, migrating goes on without it.
  const lock = await openSession(database, 'conversion-tracking-migrate');
  try {
    // Its own limit only: a role's or database's statement_timeout must not cut the wait short.
    await lock.query(`SET statement_timeout = 0; SET lock_timeout = '${lockWait}'`);
    await lock.query(`SELECT pg_advisory_lock(${MIGRATIONS_LOCK})`).catch((error: unknown) => {
      if (sqlState(error) !== SqlState.lockNotAvailable) throw error;
      throw new Error(
        `Waited ${lockWait} for the migrations lock: another process holds it (a replica migrating, ` +
          'or a lock taken through a transaction pooler: run `npm run migrate` against the server itself)',
        { cause: error },
      );
    });
    return await applyWaitingBriefly(database, tableLockWait);
  } finally {
    // Said explicitly (a pooler in session mode keeps the server session), then ending
    // the session releases it whatever happened.
    await lock.query(`SELECT pg_advisory_unlock(${MIGRATIONS_LOCK})`).catch(() => undefined);
    await lock.end();
  }
}

/**
 * The migrations, all or nothing, retried while one of them cannot get a table lock in
 * time. Both limits are set inside the migrations' own transaction: a startup parameter
 * of 0 is not sent at all (so a role's statement_timeout would cancel a long index
 * build), and a transaction pooler refuses startup parameters it does not know.
 */
async function applyWaitingBriefly(
  database: ConnectableDatabase,
  { ms, attempts }: TableLockWait,
): Promise<string[]> {
  const options = createOrmOptions(database);
  const driverOptions = options.driverOptions as { connection: PoolConfig };
  const orm = await MikroORM.init({
    ...options,
    // Two: the migrator checks the database and its table on a connection of its own.
    pool: { min: 0, max: 2 },
    driverOptions: {
      ...driverOptions,
      connection: { ...driverOptions.connection, query_timeout: undefined },
    },
  });
  const connection = orm.em.getConnection();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await connection.transactional(async (transaction) => {
          for (const setting of ['statement_timeout = 0', `lock_timeout = ${Math.trunc(ms)}`])
            await connection.execute(`SET LOCAL ${setting}`, [], 'run', transaction);
          return orm.getMigrator().up({ transaction });
        });
        return applied.map((migration) => migration.name);
      } catch (error) {
        if (attempt >= attempts || sqlState(error) !== SqlState.lockNotAvailable) throw error;
        const delay = Math.min(attempt * 1_000, 10_000);
        new Logger('Migrations').warn(
          `A migration waited ${ms} ms for a table lock that a running transaction holds; rolled back, trying again in ${delay} ms (${attempt}/${attempts})`,
        );
        await sleep(delay);
      }
    }
  } finally {
    await orm.close(true);
  }
}

// Where MikroORM keeps it: its default schema, named, whatever the role's search_path.
const QUALIFIED_MIGRATIONS_TABLE = `public.${MIGRATIONS_TABLE}`;

/** Reads the names of the migrations applied, as rows of `{ name }`. */
export const APPLIED_MIGRATIONS = `SELECT name FROM ${QUALIFIED_MIGRATIONS_TABLE}`;

/** This version's migrations missing from `applied`, in order. */
export function notApplied(applied: { name: string }[]): string[] {
  // As MikroORM reads them: rows written by its file-based runs carry the extension.
  const names = new Set(applied.map(({ name }) => name.replace(/\.[jt]s$/, '')));
  return migrationsList.map(({ name }) => name).filter((name) => !names.has(name));
}

/**
 * The names of the migrations this version has and the database lacks. Read with plain
 * SQL: the ORM's migrator would create a missing database and an empty migrations table,
 * which a command that must not change the schema may not do (and which would then pass
 * for a migrated database).
 */
export async function pendingMigrations(database: ConnectableDatabase): Promise<string[]> {
  const client = await openSession(database, 'conversion-tracking-check');
  try {
    if (!(await migrationsTableExists(client))) return migrationsList.map(({ name }) => name);
    const { rows } = await client.query<{ name: string }>(APPLIED_MIGRATIONS);
    return notApplied(rows);
  } finally {
    await client.end();
  }
}

/**
 * Whether migrations were ever applied. Later pending ones only make /ready answer 503;
 * with none at all the service cannot start (its jobs read their tables at start).
 */
export async function hasSchema(database: ConnectableDatabase): Promise<boolean> {
  const client = await openSession(database, 'conversion-tracking-start');
  try {
    return await migrationsTableExists(client);
  } finally {
    await client.end();
  }
}

async function migrationsTableExists(client: Client): Promise<boolean> {
  const { rows } = await client.query<{ exists: boolean }>(
    `SELECT to_regclass('${QUALIFIED_MIGRATIONS_TABLE}') IS NOT NULL AS exists`,
  );
  return rows[0].exists;
}

/** A connection of its own, outside the ORM's pool; a session that dies later must not crash the process. */
async function openSession(database: ConnectableDatabase, name: string): Promise<Client> {
  const client = new Client({
    connectionString: database.url,
    connectionTimeoutMillis: database.connectTimeoutMs,
    application_name: name,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}
