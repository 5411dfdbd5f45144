import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = join(__dirname, '..', '..');

/** Compiles the service once per test file, as `npm run build` does. */
export function buildService(): void {
  execFileSync('npx', ['nest', 'build'], { cwd: ROOT, stdio: 'pipe' });
  if (!existsSync(join(ROOT, 'dist/src/main.js')))
    throw new Error('build produced no dist/src/main.js');
}

/**
 * Services started in process groups of their own: a signal that ends the test runner (Ctrl-C
 * in its terminal, the pool stopping a worker) does not reach them, so it is passed on to
 * them first, then raised again for whatever would have handled it.
 */
const ownGroups = new Set<number>();
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function passOnAndRaise(signal: NodeJS.Signals): void {
  for (const pid of ownGroups) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  for (const stop of STOP_SIGNALS) process.off(stop, passOnAndRaise);
  process.kill(process.pid, signal);
}

function trackOwnGroup(pid: number): () => void {
  if (ownGroups.size === 0) for (const stop of STOP_SIGNALS) process.on(stop, passOnAndRaise);
  ownGroups.add(pid);
  return () => {
    ownGroups.delete(pid);
    if (ownGroups.size === 0) for (const stop of STOP_SIGNALS) process.off(stop, passOnAndRaise);
  };
}

/** The compiled service as a real process, as `npm run start:prod` runs it. */
export class ServiceProcess {
  private child?: ChildProcess;
  output = '';
  exitCode: number | null = null;

  /**
   * `ownProcessGroup`: as a shell runs a command, so that `interrupt` is Ctrl-C in its
   * terminal; otherwise it stays in the runner's group, and goes when the runner does.
   */
  constructor(
    private readonly env: Record<string, string>,
    private readonly options: { ownProcessGroup?: boolean } = {},
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.env.PORT}`;
  }

  async start(readyTimeoutMs = 90_000): Promise<void> {
    this.launch();
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      if (this.exitCode !== null)
        throw new Error(`service exited with ${String(this.exitCode)}:\n${this.output}`);
      try {
        if ((await fetch(`${this.baseUrl}/ready`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    throw new Error(`service not ready after ${readyTimeoutMs} ms:\n${this.output}`);
  }

  /** Starts the process without waiting for it to serve. */
  launch(): void {
    const { DATABASE_URL: _ignored, ...inherited } = process.env;
    this.output = '';
    this.exitCode = null;
    this.child = spawn(process.execPath, ['dist/src/main.js'], {
      cwd: ROOT,
      env: { ...inherited, HOST: '127.0.0.1', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: this.options.ownProcessGroup === true,
    });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    const untrack =
      this.options.ownProcessGroup && this.child.pid !== undefined
        ? trackOwnGroup(this.child.pid)
        : () => undefined;
    this.child.on('exit', (code) => {
      this.exitCode = code;
      untrack();
    });
  }

  /** Waits until the process has written a line matching `pattern`. */
  async waitForOutput(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (this.exitCode !== null || Date.now() > deadline)
        throw new Error(`no output matching ${String(pattern)}:\n${this.output}`);
      await sleep(20);
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Ctrl-C in its terminal: SIGINT to its whole process group, its own children too. */
  interrupt(): void {
    this.signalGroup('SIGINT');
  }

  /** `signal` to its whole process group, as a terminal or systemd's stop sends it. */
  signalGroup(signal: NodeJS.Signals): void {
    if (!this.options.ownProcessGroup) throw new Error('started without ownProcessGroup');
    if (this.child?.pid !== undefined) process.kill(-this.child.pid, signal);
  }

  async waitForExit(timeoutMs = 30_000): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.exitCode === null && this.child?.signalCode == null && Date.now() < deadline)
      await sleep(100);
    return this.exitCode;
  }
}
