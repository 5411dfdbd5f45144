// Helpers shared by the benchmark scripts: the built service, a fresh migrated database,
// ports, and the tables of figures they print.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SERVICE_MAIN = 'dist/src/main.js';
export const MIGRATE_MAIN = 'dist/src/bin/migrate.js';
export const DEFAULT_SERVER_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

export function startProdArgs() {
  const script = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).scripts['start:prod'];
  // `exec` hands the shell's place to node, so that npm's signals reach the service.
  const [command, ...args] = script.trim().replace(/^exec\s+/, '').split(/\s+/);
  if (command !== 'node' || !args.includes(SERVICE_MAIN)) {
    throw new Error(`expected "start:prod" to be "[exec] node [flags] ${SERVICE_MAIN}", got "${script}"`);
  }
  return args;
}

export function ensureBuilt() {
  for (const file of [SERVICE_MAIN, MIGRATE_MAIN]) {
    if (!existsSync(new URL(`../${file}`, import.meta.url))) {
      throw new Error(`${file} is missing: build first (npx nest build, or use the npm run bench:… scripts)`);
    }
  }
}

/** Drops and creates `name` on the server of `serverUrl`; returns the new database's URL. */
export async function recreateDatabase(serverUrl, name) {
  const admin = new pg.Client({ connectionString: serverUrl, application_name: 'bench' });
  await admin.connect();
  try {
    // FORCE ends sessions left over from an interrupted run (PostgreSQL 13+).
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export function migrate(databaseUrl) {
  console.log(`Migrating ${redact(databaseUrl)} (node ${MIGRATE_MAIN})`);
  const run = spawnSync(process.execPath, [MIGRATE_MAIN], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' },
  });
  if (run.status !== 0) throw new Error(`migration failed (exit ${run.status ?? run.signal})`);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port, child, name, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during start-up (${child.exitCode ?? child.signalCode}); see its output above`);
    }
    if (await canConnect(port)) return;
    await sleep(100);
  }
  throw new Error(`${name} did not listen on port ${port} within ${timeoutMs / 1000} s`);
}

export function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export function printTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// As src/persistence/database-location.ts: node-postgres also reads secrets from the query.
const SECRET_PARAMETER = /pass|key|secret|token/i;

export function redact(url) {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  const query = parsed.search.slice(1);
  const masked = query.split('&').map(maskIfSecret).join('&');
  if (masked !== query) parsed.search = masked;
  return parsed.toString();
}

function maskIfSecret(pair) {
  const [name] = new URLSearchParams(pair).keys();
  return name !== undefined && SECRET_PARAMETER.test(name) ? `${pair.split('=')[0]}=***` : pair;
}

