// A PgBouncer of its own, in transaction mode, in front of a PostgreSQL server: used by
// `bench:track --pgbouncer` and by test/pgbouncer.e2e-spec.ts (Debian's package:
// apt-get install pgbouncer; .ci/run installs it).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { canConnect, freePort } from './support.mjs';

const BINARY = process.env.PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';

/**
 * Starts it on a free loopback port, with `serverConnections` server connections per
 * database and user, and resolves once it listens. Clients are trusted on loopback; the
 * pooler logs in to the server with the URL's password.
 */
export async function startPgBouncer(serverUrl, { serverConnections = 3, maxClients = 200 } = {}) {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: apt-get install pgbouncer (.ci/run does)`);
  const server = new URL(serverUrl);
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'ct-pgbouncer-'));
  await chmod(dir, 0o777); // it drops to `postgres` when started as root
  const authFile = join(dir, 'users.txt');
  const user = decodeURIComponent(server.username);
  await writeFile(authFile, `"${user}" "${decodeURIComponent(server.password)}"\n`);
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      `auth_file = ${authFile}`,
      'pool_mode = transaction',
      `default_pool_size = ${serverConnections}`,
      `max_client_conn = ${maxClients}`,
      // Only what a pooler of this kind passes through; anything else must not be sent.
      'ignore_startup_parameters =',
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
  );
  const args = [join(dir, 'pgbouncer.ini')];
  if (process.getuid?.() === 0) args.unshift('-u', 'postgres');
  const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk.toString()));
  child.stderr.on('data', (chunk) => (output += chunk.toString()));
  await waitForPort(port, child, () => output);
  const url = new URL(serverUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    pid: child.pid,
    stop: async () => {
      child.kill('SIGINT');
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port, child, output) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited:\n${output()}`);
    if (await canConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`pgbouncer did not listen on ${port}:\n${output()}`);
}
