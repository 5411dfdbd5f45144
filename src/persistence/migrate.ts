import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import { ConnectableDatabase, createOrmOptions } from './orm-options';

// Session-level, on a connection of its own: a transaction held open for the lock would
// make any migration that waits for older transactions wait for the lock's own.
const MIGRATIONS_LOCK = "hashtext('conversion-tracking:migrations')";
// Long enough for another replica's migrations; a lock never released (taken through a
// transaction pooler, whose server session outlives ours) must not hang a start forever.
const LOCK_WAIT = '10min';

/**
 * Applies pending migrations and returns their names. Replicas starting together take
 * turns on an advisory lock: the first applies them, the others then find none pending.
 */
export async function migrateDatabase(
  database: ConnectableDatabase,
  { lockWait = LOCK_WAIT }: { lockWait?: string } = {},
): Promise<string[]> {
  // Should the lock's session die, migrating goes on without it.
  const lock = await openSession(database, 'conversion-tracking-migrate');
  try {
    await lock.query(`SET lock_timeout = '${lockWait}'`);
    await lock.query(`SELECT pg_advisory_lock(${MIGRATIONS_LOCK})`).catch((error: unknown) => {
      if ((error as { code?: string }).code !== '55P03') throw error;
      throw new Error(
        `Waited ${lockWait} for the migrations lock: another process holds it (a replica migrating, ` +
          'or a lock taken through a transaction pooler: run `npm run migrate` against the server itself)',
        { cause: error },
      );
    });
    const orm = await MikroORM.init({ ...createOrmOptions(database), pool: { min: 0, max: 1 } });
    try {
      const applied = await orm.getMigrator().up();
      return applied.map((migration) => migration.name);
    } finally {
      await orm.close(true);
    }
  } finally {
    // Said explicitly (a pooler in session mode keeps the server session), then ending
    // the session releases it whatever happened.
    await lock.query(`SELECT pg_advisory_unlock(${MIGRATIONS_LOCK})`).catch(() => undefined);
    await lock.end();
  }
}

/** The names of the migrations this version has and the database lacks. */
export async function pendingMigrations(database: ConnectableDatabase): Promise<string[]> {
  const orm = await MikroORM.init({ ...createOrmOptions(database), pool: { min: 0, max: 1 } });
  try {
    return (await orm.getMigrator().getPendingMigrations()).map((migration) => migration.name);
  } finally {
    await orm.close(true);
  }
}

/**
 * Whether migrations were ever applied. Later pending ones only make /ready answer 503;
 * with none at all the service cannot start (its jobs read their tables at start).
 */
export async function hasSchema(database: ConnectableDatabase): Promise<boolean> {
  const client = await openSession(database, 'conversion-tracking-start');
  try {
    const { rows } = await client.query<{ migrated: boolean }>(
      "SELECT to_regclass('mikro_orm_migrations') IS NOT NULL AS migrated",
    );
    return rows[0].migrated;
  } finally {
    await client.end();
  }
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
