import { Logger } from '@nestjs/common';
import { DatabaseConfig } from '../config/app-config';
import { runningEmbeddedUrl, startEmbeddedPostgres } from './embedded-postgres';
import { ConnectableDatabase } from './orm-options';
import { hasSchema, migrateDatabase, pendingMigrations } from './migrate';
import { sqlState, SqlState } from '../common/sql-state';

export interface ResolvedDatabase {
  database: ConnectableDatabase;
  /** Stops the embedded server; a no-op for an external database. */
  stop(): Promise<void>;
}

const EMBEDDED_DATABASE = 'conversions';

/**
 * Who asks for the database: the service migrates it (unless MIGRATE_ON_START=false or it
 * is a transaction pooler), and so does `npm run migrate`. Another command never migrates
 * DATABASE_URL, nor the embedded server of a running service, since it must not change
 * the schema under a service of another version: it refuses a database that lacks this
 * version's migrations instead. An embedded server it starts itself is its own: that one
 * it migrates.
 */
export type DatabaseUser = 'service' | 'migrate' | 'command';

/**
 * `DATABASE_URL` when set; otherwise the embedded PostgreSQL, started here so that
 * `npm start` works on a machine without a database server. A command uses the embedded
 * server a running service started, if there is one, rather than start its own.
 */
export async function resolveDatabase(
  config: DatabaseConfig,
  logger = new Logger('Database'),
  user: DatabaseUser = 'service',
): Promise<ResolvedDatabase> {
  const external = () => Promise.resolve();
  if (config.url !== undefined) {
    logger.log(`Using PostgreSQL at ${redact(config.url)} (DATABASE_URL)`);
    const database = { ...config, url: config.url };
    if (user === 'command') {
      await refuseMissingMigrations(database, 'The database');
      return { database, stop: external };
    }
    if (!config.transactionPooling && config.migrateOnStart) {
      logApplied(logger, await migrateDatabase(database));
      return { database, stop: external };
    }
    if (config.transactionPooling && config.migrateOnStart)
      logger.log(
        'Migrations are not applied through a transaction pooler: run `npm run migrate` against the server itself',
      );
    if (!(await hasSchema(database))) {
      throw new Error(
        'The database has no schema yet and this start does not migrate it ' +
          '(MIGRATE_ON_START=false, or DB_TRANSACTION_POOLING=true): run `npm run migrate` against the server first',
      );
    }
    return { database, stop: external };
  }
  const running =
    user === 'service'
      ? undefined
      : await runningEmbeddedUrl(config.embeddedDataDir, EMBEDDED_DATABASE);
  if (running !== undefined) {
    logger.log(`Using the embedded PostgreSQL of the running service at ${redact(running)}`);
    const database = { ...config, url: running };
    if (user === 'migrate') logApplied(logger, await migrateDatabase(database));
    else await refuseMissingMigrations(database, "The running service's database");
    return { database, stop: external };
  }
  logger.log(
    `DATABASE_URL is not set: starting the embedded PostgreSQL (data in ${config.embeddedDataDir})`,
  );
  const embedded = await startEmbeddedPostgres({
    dataDir: config.embeddedDataDir,
    port: config.embeddedPort,
    database: EMBEDDED_DATABASE,
  });
  const database = { ...config, url: embedded.url };
  try {
    logApplied(logger, await migrateDatabase(database));
  } catch (error) {
    await embedded.stop();
    throw error;
  }
  logger.log(`Using the embedded PostgreSQL at ${redact(embedded.url)}`);
  return { database, stop: () => embedded.stop() };
}

async function refuseMissingMigrations(
  database: ConnectableDatabase,
  which: string,
): Promise<void> {
  const pending = await pendingMigrations(database).catch((error: unknown) => {
    if (sqlState(error) !== SqlState.invalidCatalogName) throw error;
    throw new Error(`${which} does not exist: create it, then run \`npm run migrate\``, {
      cause: error,
    });
  });
  if (pending.length > 0)
    throw new Error(
      `${which} lacks this version's migrations (${pending.join(', ')}): ` +
        'run `npm run migrate`, or restart the service with this version, first',
    );
}

function logApplied(logger: Logger, applied: string[]): void {
  if (applied.length > 0) logger.log(`Applied migrations: ${applied.join(', ')}`);
}

/**
 * node-postgres reads every query parameter as a connection setting, so a secret can sit
 * there too (`?password=`, `?sslpassword=`, `?sslkey=`): a parameter whose name says so is
 * masked like the password of `user:pass@host`.
 */
const SECRET_PARAMETER = /pass|key|secret|token/i;

/** The URL fit for a log line. `url` must parse (loadConfig refuses one that does not). */
export function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  const query = parsed.search.slice(1);
  const masked = query.split('&').map(maskIfSecret).join('&');
  if (masked !== query) parsed.search = masked;
  return parsed.toString();
}

/** One `name=value` pair; pair by pair so that the others keep their encoding. */
function maskIfSecret(pair: string): string {
  const [name] = new URLSearchParams(pair).keys();
  return name !== undefined && SECRET_PARAMETER.test(name) ? `${pair.split('=')[0]}=***` : pair;
}
