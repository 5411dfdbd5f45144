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
 * Detached, a service is not in the test runner's process group: a run cut short (Ctrl-C,
 * a timeout) would leave it serving. Whatever is still running when the runner exits is
 * asked to stop, as SIGTERM would stop it in production.
 */
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
});

/** The compiled service as a real process, as `npm run start:prod` runs it. */
export class ServiceProcess {
  private child?: ChildProcess;
  output = '';
  exitCode: number | null = null;

  constructor(private readonly env: Record<string, string>) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.env.PORT}`;
  }

  async start(readyTimeoutMs = 90_000): Promise<void> {
    const { DATABASE_URL: _ignored, ...inherited } = process.env;
    this.output = '';
    this.exitCode = null;
    this.child = spawn(process.execPath, ['dist/src/main.js'], {
      cwd: ROOT,
      env: { ...inherited, HOST: '127.0.0.1', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, as a shell gives a command: see `interrupt`.
      detached: true,
    });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    const { pid } = this.child;
    if (pid !== undefined) running.add(pid);
    this.child.on('exit', (code) => {
      this.exitCode = code;
      if (pid !== undefined) running.delete(pid);
    });
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
    if (this.child?.pid !== undefined) process.kill(-this.child.pid, 'SIGINT');
  }

  async waitForExit(timeoutMs = 30_000): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.exitCode === null && this.child?.signalCode == null && Date.now() < deadline)
      await sleep(100);
    return this.exitCode;
  }
}
