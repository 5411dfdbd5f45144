// `npm run bench:track`: throughput and latency of POST /v1/events/track, measured side by
// side with three plain-Fastify references in the same run (method: shared/BENCHMARKS.md),
// and with the service's own ceiling (bench/service-ceiling.mjs: the service with its
// database write answered at once), which tells the cost of its request path from the cost
// of its write.
//
//   npx nest build && node bench/track.mjs [--connections 10,50,200] [--duration 10]
//                                          [--warmup 5] [--rounds 1] [--threads 2]
//                                          [--processes 1,2]
//                                          [--targets service,ceiling,raw,single,group]
//                                          [--database ct_bench] [--pgbouncer] [--verbose]
//
// It installs wrk if missing, recreates the database ct_bench (--database) on the server of
// DATABASE_URL (default: local PostgreSQL), migrates it with the built service, and for each process count
// starts the service and the references with that many Node processes each (N > 1: node:cluster,
// the service with WORKERS=N, the references with --processes N; a primary that forks N workers
// sharing the port), loads each with wrk and bench/track.lua, checks that every 2xx answer left
// its row behind, and prints the figures and the ratios.
// --pgbouncer: the targets reach the database through a PgBouncer of their own in
// transaction mode (bench/pgbouncer.mjs, POOL_SIZE server connections), the service with
// DB_TRANSACTION_POOLING=true; setup, migrations and the durability checks go direct.
// Exit code 1: the service answered non-2xx or dropped connections, or a durability check failed.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startPgBouncer } from './pgbouncer.mjs';
import {
  DEFAULT_SERVER_URL,
  MIGRATE_MAIN,
  ROOT,
  SERVICE_MAIN,
  ensureBuilt,
  freePort,
  median,
  migrate,
  printTable,
  recreateDatabase,
  redact,
  startProdArgs,
  waitForPort,
} from './support.mjs';

const LUA_SCRIPT = fileURLToPath(new URL('track.lua', import.meta.url));
const REFERENCE_SERVER = fileURLToPath(new URL('reference-server.mjs', import.meta.url));
// The service runs as a deployment runs it: with the node arguments of `npm run start:prod`.
const SERVICE_ARGS = startProdArgs();
// The service with its database write answered at once (bench/service-ceiling.mjs), same node arguments.
const CEILING_ARGS = SERVICE_ARGS.map((arg) => (arg === SERVICE_MAIN ? 'bench/service-ceiling.mjs' : arg));

const DEFAULT_BENCH_DATABASE = 'ct_bench';
const ROUTE = '/v1/events/track';
const POOL_SIZE = 10; // the service's default DB_POOL_SIZE, per process; the references use the same
const ALL_TARGETS = ['service', 'ceiling', 'raw', 'single', 'group'];
const REFERENCES = ['raw', 'single', 'group'];
const DATABASE_TARGETS = ['service', 'single', 'group'];
/** Targets that run only as one process (the ceiling replaces a method of one app in one process). */
const SINGLE_PROCESS_TARGETS = ['ceiling'];
const MAX_FORWARDED_LINES = 20; // per child process; the rest is only counted
// Linux's USER_HZ: the unit of the CPU times in /proc/<pid>/stat.
const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** Every child process still running (servers and wrk), so that they can all be stopped. */
const children = new Set();
/** Set by Ctrl-C / SIGTERM: the run is being abandoned, its errors are expected. */
let interrupted = false;

async function main() {
  const options = readOptions();
  stopChildrenOnSignals();
  ensureBuilt();
  ensureWrk();

  const serverUrl = process.env.DATABASE_URL || DEFAULT_SERVER_URL;
  const databaseUrl = await recreateDatabase(serverUrl, options.database);
  migrate(databaseUrl);

  const db = new pg.Client({ connectionString: databaseUrl, application_name: 'bench-track' });
  await db.connect();
  const pooler = options.pgbouncer
    ? await startPgBouncer(databaseUrl, { serverConnections: POOL_SIZE, maxClients: 1_000 })
    : undefined;
  const targetsUrl = pooler?.url ?? databaseUrl;
  try {
    options.dataTables = await findDataTables(db);
    await printSetup(db, databaseUrl, options);
    const results = [];
    for (const processes of options.processes) {
      console.log(`\n# ${plural(processes, 'process', 'processes')} per target`);
      const targets = [];
      try {
        for (const name of targetsFor(options, processes)) targets.push(await startTarget(name, targetsUrl, processes, pooler !== undefined));
        for (const target of targets) await probe(target);
        results.push(...(await runAllRounds(targets, db, options, processes)));
      } finally {
        // Stopped before the next process count starts: their pools hold connections.
        await Promise.all(targets.map((target) => stopChild(target.child)));
      }
    }
    return report(results, options);
  } finally {
    await pooler?.stop();
    await db.end();
  }
}

// ---------------------------------------------------------------------------------------
// Options

function readOptions() {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '50' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '1' },
      threads: { type: 'string', default: '2' },
      processes: { type: 'string', default: '1' },
      targets: { type: 'string', default: ALL_TARGETS.join(',') },
      database: { type: 'string', default: DEFAULT_BENCH_DATABASE },
      pgbouncer: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: node bench/track.mjs [--connections 10,50,200] [--duration 10] [--warmup 5]\n' +
        '                            [--rounds 1] [--threads 2] [--processes 1,2]\n' +
        '                            [--targets service,ceiling,raw,single,group] [--database ct_bench] [--pgbouncer] [--verbose]',
    );
    process.exit(0);
  }
  const threads = positiveInt('--threads', values.threads);
  const connections = values.connections.split(',').map((c) => positiveInt('--connections', c));
  for (const c of connections) {
    if (c < threads) usage(`--connections ${c} is below --threads ${threads} (wrk needs one per thread)`);
  }
  const processes = [...new Set(values.processes.split(',').map((p) => positiveInt('--processes', p)))];
  const targets = values.targets.split(',').map((t) => t.trim());
  // Dropped and created at the start: a name of its own keeps two runs from wiping each other's.
  if (!/^[a-z_][a-z0-9_]*$/.test(values.database)) usage(`--database must be a plain lower-case name, got "${values.database}"`);
  for (const t of targets) if (!ALL_TARGETS.includes(t)) usage(`unknown target "${t}"`);
  return {
    connections,
    threads,
    processes,
    targets: ALL_TARGETS.filter((t) => targets.includes(t)),
    duration: positiveInt('--duration', values.duration),
    warmup: nonNegativeInt('--warmup', values.warmup),
    rounds: positiveInt('--rounds', values.rounds),
    database: values.database,
    pgbouncer: values.pgbouncer,
    verbose: values.verbose,
  };
}

function positiveInt(name, text) {
  const value = nonNegativeInt(name, text);
  if (value === 0) usage(`${name} must be at least 1`);
  return value;
}

function nonNegativeInt(name, text) {
  if (!/^\d+$/.test(String(text).trim())) usage(`${name} must be a whole number, got "${text}"`);
  return Number(text);
}

function usage(message) {
  console.error(`bench:track: ${message} (see --help)`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// Prerequisites: the built service, wrk, a fresh migrated database

function ensureWrk() {
  if (commandExists('wrk')) return;
  console.log('wrk not found: installing it with apt-get install -y wrk');
  let install = spawnSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'inherit' });
  if (install.status !== 0) {
    // A machine whose package lists were never fetched knows no wrk yet.
    console.log('apt-get install failed: running apt-get update, then trying again');
    spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    install = spawnSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'inherit' });
  }
  if (install.status !== 0 || !commandExists('wrk')) {
    throw new Error('could not install wrk (apt-get install -y wrk needs root)');
  }
}

function commandExists(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

async function printSetup(db, databaseUrl, options) {
  const { rows } = await db.query(
    "SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync," +
      " current_setting('synchronous_commit') AS sync, current_setting('max_connections')::int AS max_connections",
  );
  const wrkVersion = spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0].trim();
  const seconds = `${options.warmup} s warm-up + ${options.duration} s measured`;
  console.log(
    [
      '',
      `bench:track  ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}, Node ${process.version}, ${wrkVersion}`,
      `database     ${redact(databaseUrl)}: PostgreSQL ${rows[0].version}, fsync ${rows[0].fsync}, synchronous_commit ${rows[0].sync}`,
      `load         wrk ${options.threads} threads, ${seconds}, connections ${options.connections.join(', ')}, ${options.rounds} round(s)`,
      `targets      ${options.targets.join(', ')}: ${options.processes.map((n) => plural(n, 'Node process', 'Node processes')).join(', then ')} each` +
        ` (N > 1: node:cluster, a primary + N workers), DB pool ${POOL_SIZE} per process`,
      ...(options.pgbouncer
        ? [`pooler       PgBouncer in transaction mode, ${POOL_SIZE} server connections shared by the targets (its CPU is not in server CPU)`]
        : []),
      `truncated    ${options.dataTables.join(', ')} before each target's warm-up, then CHECKPOINT`,
      'server CPU   user + system time of the server\'s process tree (primary + workers) in the measured run:' +
        ' % of one core, and per request',
      '',
    ].join('\n'),
  );
  // Every target of a process count runs (and may keep its pool open) while the others are measured.
  const databaseTargets = options.targets.filter((t) => t !== 'raw').length;
  const needed = Math.max(...options.processes) * POOL_SIZE * databaseTargets + 1;
  if (needed > rows[0].max_connections - 3) {
    console.warn(
      `warning: up to ${needed} database connections (${databaseTargets} targets × ${Math.max(...options.processes)} processes × pool ${POOL_SIZE}) ` +
        `against max_connections ${rows[0].max_connections}; expect "too many clients" errors\n`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Servers under test

async function startTarget(name, databaseUrl, processes, pooled) {
  const port = await freePort();
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    DB_POOL_SIZE: String(POOL_SIZE),
  };
  let args = [REFERENCE_SERVER, '--mode', name, '--processes', String(processes)];
  if (name === 'service' || name === 'ceiling') {
    args = name === 'service' ? SERVICE_ARGS : CEILING_ARGS;
    // No rate limit (all load comes from one address), no per-request info logs; WORKERS > 1:
    // node:cluster, a primary that does not serve and WORKERS workers, each with its own pool.
    Object.assign(env, { RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'warn', CORS_ORIGINS: '', WORKERS: String(processes) });
    if (pooled) env.DB_TRANSACTION_POOLING = 'true';
    // The ceiling shares the service's database but tracks nothing there: its attribution
    // refresher, at the pace of a quiet process, would fold the service's marks nearly back
    // to back while the service is measured (a third of the service's throughput here).
    if (name === 'ceiling') Object.assign(env, { REPORT_REFRESH_INTERVAL_MS: '0', RECONCILE_CRON: 'off' });
  }
  const child = spawnChild(name, process.execPath, args, { env });
  await waitForPort(port, child, name);
  if (processes > 1) await waitForWorkers(child, name, processes);
  const tree = processTree(child.pid);
  const pids = processes > 1 ? ` (primary + ${processes} workers: ${[...tree.keys()].slice(1).join(', ')})` : '';
  console.log(`started ${name.padEnd(7)} pid ${child.pid}${pids}, http://127.0.0.1:${port}${ROUTE}`);
  return { name, child, processes, url: `http://127.0.0.1:${port}${ROUTE}`, usesDatabase: DATABASE_TARGETS.includes(name) };
}

/**
 * The port answers as soon as the first worker listens. Connections made before the others
 * listen would all go to it, and wrk keeps its connections for the whole run: so wait until
 * the primary has its N workers and the start-up work of the tree has died down.
 */
async function waitForWorkers(child, name, processes, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let count = 0;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during start-up (${child.exitCode ?? child.signalCode}); see its output above`);
    }
    count = processTree(child.pid).size - 1;
    if (count >= processes) {
      await waitUntilIdle(child.pid, Math.max(deadline - Date.now(), 1_000), 2);
      return;
    }
    await sleep(100);
  }
  throw new Error(
    `${name} has ${count} child process(es) after ${timeoutMs / 1000} s, not the ${processes} workers asked for` +
      (name === 'service' ? ' (does the built service support WORKERS? rebuild it)' : ''),
  );
}

/** One second, one connection, with the bodies of the first non-2xx answers printed. */
async function probe(target) {
  const run = await runWrk({ url: target.url, threads: 1, connections: 1, seconds: 1, prefix: nextPrefix(), probe: true });
  const sizes = [...run.output.matchAll(/^PROBE body (\d+) bytes$/gm)].map((m) => Number(m[1]));
  const failures = [...run.output.matchAll(/^PROBE non-2xx (.*)$/gm)].map((m) => m[1]);
  const verdict = run.non2xx === 0 && run.socketErrors === 0 ? 'ok' : 'PROBLEM';
  console.log(
    `probe   ${target.name.padEnd(7)} ${verdict}: ${run.ok2xx} 2xx, ${run.non2xx} non-2xx, ` +
      `${run.socketErrors} socket errors; bodies ${Math.min(...sizes)}–${Math.max(...sizes)} bytes`,
  );
  for (const failure of failures) console.log(`        ${failure.slice(0, 400)}`);
}

// ---------------------------------------------------------------------------------------
// Measuring

async function runAllRounds(targets, db, options, processes) {
  const results = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const connections of options.connections) {
      console.log(`\nRound ${round}/${options.rounds}, ${connections} connections, ${plural(processes, 'process', 'processes')}`);
      // Rotating the order spreads any drift of the machine over all targets.
      const order = rotate(targets, round - 1);
      for (const target of order) {
        const result = await measure(target, connections, db, options);
        results.push({ round, processes, ...result });
        console.log(describe(result));
      }
    }
  }
  return results;
}

/** TRUNCATE + CHECKPOINT, warm-up run, measured run, durability check. */
async function measure(target, connections, db, options) {
  await resetTables(db, options.dataTables);
  const load = { url: target.url, threads: options.threads, connections };
  const warmup = options.warmup > 0 ? await runWrk({ ...load, seconds: options.warmup, prefix: nextPrefix() }) : undefined;
  const prefix = nextPrefix();
  const cpuBefore = processTree(target.child.pid);
  const walBefore = target.usesDatabase ? await walPosition(db) : undefined;
  const measured = await runWrk({ ...load, seconds: options.duration, prefix });
  const walPerRequest = walBefore === undefined ? undefined : (await walBytesSince(db, walBefore)) / measured.stats.requests;
  const cpu = serverCpu(cpuBefore, processTree(target.child.pid), measured);
  if (options.verbose) console.log(measured.output.replace(/^BENCH_JSON.*\n/m, ''));
  await settle(target);
  const durability = target.usesDatabase ? await checkDurability(db, prefix, warmup, measured) : undefined;
  const marksWaiting = target.name === 'service' ? await countMarksWaiting(db) : undefined;
  return { target: target.name, connections, warmup, measured, cpu, walPerRequest, durability, marksWaiting };
}

/**
 * WAL is what a durable write waits on (the commit's flush), so the bytes each request
 * leaves in it say how heavy the write is, apart from how fast the box is. Read from the
 * server's WAL position: the whole cluster's, so nothing else should write meanwhile.
 */
async function walPosition(db) {
  const { rows } = await db.query('SELECT pg_current_wal_lsn()::text AS lsn');
  return rows[0].lsn;
}

async function walBytesSince(db, lsn) {
  const { rows } = await db.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::float8 AS bytes', [lsn]);
  return rows[0].bytes;
}

/**
 * Attribution marks the service's refresher has not folded yet when the run ends: the
 * background work still owed for this run (reports read raw events while many wait).
 */
async function countMarksWaiting(db) {
  const { rows } = await db.query('SELECT count(*)::int AS waiting FROM attribution_marks');
  return rows[0].waiting;
}

/** One line of /proc/<pid>/stat: state, parent, CPU time (user + system) and start time. */
function readStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": the first is field 3 (state); ppid is field 4, utime 14, stime 15,
    // starttime 22 (with the pid, it tells a process from a later one given the same pid).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      state: fields[0],
      ppid: Number(fields[1]),
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND,
      startTime: fields[19],
    };
  } catch {
    return undefined; // gone, or no /proc (not Linux)
  }
}

/**
 * The process `pid` and all its descendants (a cluster's primary and its workers), found via
 * the ppid of every process in /proc: a Map pid → { state, ppid, cpuSeconds, startTime }, the root
 * first. Empty when the root is gone or there is no /proc.
 */
function processTree(pid) {
  const tree = new Map();
  const root = readStat(pid);
  if (!root) return tree;
  tree.set(pid, root);
  const childrenOf = new Map();
  let entries = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return tree;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === pid) continue;
    const stat = readStat(entry);
    if (!stat) continue;
    if (!childrenOf.has(stat.ppid)) childrenOf.set(stat.ppid, []);
    childrenOf.get(stat.ppid).push([Number(entry), stat]);
  }
  const pending = [pid];
  while (pending.length > 0) {
    for (const [child, stat] of childrenOf.get(pending.shift()) ?? []) {
      tree.set(child, stat);
      pending.push(child);
    }
  }
  return tree;
}

const treeCpuSeconds = (tree) => [...tree.values()].reduce((total, p) => total + p.cpuSeconds, 0);

/**
 * Waits (at most 15 s) until the server is idle: when wrk stops, a saturated server still
 * has a queue of requests whose clients are gone. Left running, they would overlap the next
 * target's warm-up, or be cut short by the final shutdown.
 */
async function settle(target) {
  await waitUntilIdle(target.child.pid, 15_000);
}

/** Until the process tree of `pid` used under 10% of a core in `quietWindows` 250 ms windows in a row. */
async function waitUntilIdle(pid, timeoutMs, quietWindows = 1) {
  const deadline = Date.now() + timeoutMs;
  let last = processTree(pid);
  let quiet = 0;
  while (last.size > 0 && Date.now() < deadline) {
    await sleep(250);
    const now = processTree(pid);
    if (now.size === 0) return;
    quiet = cpuDelta(last, now).seconds < 0.025 ? quiet + 1 : 0;
    if (quiet >= quietWindows) return;
    last = now;
  }
}

/**
 * CPU seconds the processes of `after` used since `before` (a process not in `before` started
 * in between: all its time counts), in total and per process (root first). The CPU time of a
 * process that exited in between is lost: workers live for the whole run.
 */
function cpuDelta(before, after) {
  const perProcess = [...after].map(([pid, p]) => {
    const earlier = before.get(pid);
    return p.cpuSeconds - (earlier && earlier.startTime === p.startTime ? earlier.cpuSeconds : 0);
  });
  return { seconds: perProcess.reduce((a, b) => a + b, 0), perProcess };
}

/**
 * CPU time (user + system) of the server's whole process tree in the measured run, from /proc
 * (Linux); undefined elsewhere. Near 100% × processes means Node is the bottleneck, not the
 * database; per request it stays comparable across process counts.
 */
function serverCpu(before, after, measured) {
  if (before.size === 0 || after.size === 0) return undefined;
  const { seconds, perProcess } = cpuDelta(before, after);
  const runSeconds = measured.stats.duration_us / 1e6;
  return {
    percent: (100 * seconds) / runSeconds,
    perProcessPercent: perProcess.map((s) => (100 * s) / runSeconds),
    usPerRequest: measured.stats.requests > 0 ? (seconds * 1e6) / measured.stats.requests : NaN,
  };
}

let prefixCount = 0;
const RUN_TAG = `b${Date.now().toString(36)}`;
/** A fresh event_id prefix for each wrk run: rows of one run can be counted on their own. */
function nextPrefix() {
  prefixCount += 1;
  return `${RUN_TAG}-${prefixCount}`;
}

/** Written once by the service at start, not per event: see findDataTables. */
const SERVICE_SETTINGS_TABLE = 'attribution_state';

/**
 * The tables the service writes to: every table still empty right after the migrations
 * (events, identity_links, and whatever the service stores per event as it grows, e.g.
 * funnel progress). Seeded tables and the migrations' own bookkeeping are left alone, and so
 * is the attribution settings record the service writes once at start: without it the
 * running service's refresher takes the rollup for another replica's and stops folding, so
 * the runs after the first would measure it idle.
 */
async function findDataTables(db) {
  const { rows } = await db.query(
    "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = current_schema()",
  );
  const empty = [];
  for (const { name } of rows) {
    const { rowCount } = await db.query(`SELECT 1 FROM ${name} LIMIT 1`);
    if (rowCount === 0 && !name.endsWith(`.${SERVICE_SETTINGS_TABLE}`)) empty.push(name);
  }
  if (!empty.some((name) => name.endsWith('.events'))) throw new Error('no empty events table after the migrations');
  return empty;
}

let checkpointRefused = false;
/** Every measurement starts from empty tables and a fresh checkpoint. */
async function resetTables(db, dataTables) {
  // The idle service's refresher may be folding the last run's marks: its locks and the
  // TRUNCATE's can deadlock, and PostgreSQL may pick the TRUNCATE to fail. Try again.
  for (let attempt = 1; ; attempt++) {
    try {
      await db.query(`TRUNCATE ${dataTables.join(', ')}`);
      break;
    } catch (error) {
      if (error.code !== '40P01' || attempt === 5) throw error;
    }
  }
  if (checkpointRefused) return;
  try {
    await db.query('CHECKPOINT');
  } catch (error) {
    // CHECKPOINT needs a superuser or pg_checkpoint; without it the figures are noisier.
    checkpointRefused = true;
    console.warn(`CHECKPOINT refused (${error.message}); going on without it`);
  }
}

/**
 * Every 2xx answer must have left its row: the rows carrying the measured run's prefix must
 * be at least its 2xx count, and the whole table (truncated before the warm-up) at least the
 * 2xx count of warm-up + measured. wrk counts a response only once it has fully arrived, and
 * the servers answer only after the commit, so every counted row is visible here. Rows of
 * requests cut off when wrk stopped may be stored without a counted 2xx: hence "≥".
 */
async function checkDurability(db, prefix, warmup, measured) {
  const { rows } = await db.query(
    'SELECT count(*)::int AS total, count(*) FILTER (WHERE starts_with(event_id, $1))::int AS measured FROM events',
    [`${prefix}-`],
  );
  const expectedTotal = (warmup?.ok2xx ?? 0) + measured.ok2xx;
  return {
    measuredRows: rows[0].measured,
    totalRows: rows[0].total,
    expectedTotal,
    ok: rows[0].measured >= measured.ok2xx && rows[0].total >= expectedTotal,
  };
}

function runWrk({ url, threads, connections, seconds, prefix, probe = false }) {
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s', '--latency'];
  args.push('-s', LUA_SCRIPT, url, '--', prefix, ...(probe ? ['probe'] : []));
  const child = spawnChild('wrk', 'wrk', args, { forward: false });
  let output = '';
  let errors = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (errors += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`wrk ${args.join(' ')} exited ${code ?? signal}:\n${errors}${output}`));
      try {
        resolve(parseWrkOutput(output));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/**
 * Reads the BENCH_JSON line of track.lua's done(). wrk counts a response with a status
 * ≥ 400 as a "status error"; the servers here never answer 1xx/3xx to this POST, so
 * 2xx = responses − status errors.
 */
function parseWrkOutput(output) {
  const line = output.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`no BENCH_JSON line in wrk's output:\n${output}`);
  const stats = JSON.parse(line.slice('BENCH_JSON '.length));
  const socketErrors = stats.connect_errors + stats.read_errors + stats.write_errors + stats.timeouts;
  return {
    requestsPerSecond: stats.requests / (stats.duration_us / 1e6),
    p50Ms: stats.p50_us / 1000,
    p99Ms: stats.p99_us / 1000,
    ok2xx: stats.requests - stats.status_errors,
    non2xx: stats.status_errors,
    socketErrors,
    stats,
    output,
  };
}

// ---------------------------------------------------------------------------------------
// Reporting

function describe({ target, warmup, measured, cpu, walPerRequest, durability, marksWaiting }) {
  const warm = warmup ? `warm-up ${fmtInt(warmup.requestsPerSecond)}/s, ` : '';
  const stored = durability
    ? `, stored ${fmtInt(durability.measuredRows)}/${fmtInt(measured.ok2xx)} (all ${fmtInt(durability.totalRows)}/${fmtInt(durability.expectedTotal)}) ${durability.ok ? 'ok' : 'MISSING ROWS'}`
    : '';
  const errors = (warmup?.non2xx ?? 0) + measured.non2xx + (warmup?.socketErrors ?? 0) + measured.socketErrors;
  return (
    `  ${target.padEnd(7)} ${warm}measured ${fmtInt(measured.requestsPerSecond)} req/s, ` +
    `p50 ${fmtMs(measured.p50Ms)} ms, p99 ${fmtMs(measured.p99Ms)} ms` +
    (cpu ? `, server CPU ${fmtCpu(cpu.percent, cpu.usPerRequest)}${fmtPerProcess(cpu)}` : '') +
    (walPerRequest === undefined ? '' : `, WAL ${fmtInt(walPerRequest)} B/req`) +
    (errors > 0 ? `, ${errors} non-2xx/socket errors (warm-up+measured)` : '') +
    stored +
    (marksWaiting === undefined ? '' : `, attribution marks waiting ${fmtInt(marksWaiting)}`)
  );
}

/** Prints a table per process count and connection count (medians over rounds); returns the exit code. */
function report(results, options) {
  const failures = [];
  const multiple = options.rounds > 1;
  for (const processes of options.processes) {
    for (const connections of options.connections) {
      const level = `${connections} connections, ${plural(processes, 'process', 'processes')}`;
      const atLevel = results.filter((r) => r.connections === connections && r.processes === processes);
      const rows = targetsFor(options, processes).map((target) => summarize(target, atLevel.filter((r) => r.target === target)));
      console.log(`\n## ${level}, ${multiple ? `median of ${options.rounds} rounds` : '1 round'}\n`);
      printTable(
        ['target', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'socket errors', 'server CPU', 'WAL B/req', 'durability (rows ≥ 2xx)'],
        rows.map((r) => [r.target, fmtInt(r.rps), fmtMs(r.p50), fmtMs(r.p99), fmtInt(r.non2xx), fmtInt(r.socketErrors), r.cpu, r.wal, r.durability]),
      );
      const ratios = serviceRatios(atLevel, options);
      if (ratios.length > 0) {
        console.log(`\nservice / reference${multiple ? ' (median of the per-round ratios)' : ''}:\n`);
        printTable(['ratio', 'req/s', 'p99'], ratios.map((r) => [r.name, fmtRatio(r.rps), fmtRatio(r.p99)]));
      }
      const writeCosts = writeCostRatios(atLevel, options);
      if (writeCosts.length > 0) {
        console.log(`\nwhat the durable write leaves of each server's own ceiling (with it ÷ without it${multiple ? ', median of the per-round ratios' : ''}):\n`);
        printTable(['ratio', 'req/s', 'p99'], writeCosts.map((r) => [r.name, fmtRatio(r.rps), fmtRatio(r.p99)]));
      }
      for (const r of rows) {
        if (r.durabilityFailed) failures.push(`${r.target} at ${level}: rows missing for 2xx answers`);
        if (r.target === 'service' && r.non2xx + r.socketErrors > 0) {
          failures.push(`service at ${level}: ${r.non2xx} non-2xx, ${r.socketErrors} socket errors (warm-up + measured)`);
        }
        if (r.target !== 'service' && r.non2xx + r.socketErrors > 0) {
          console.warn(`warning: reference ${r.target} at ${level} had ${r.non2xx} non-2xx and ${r.socketErrors} socket errors; its figures are suspect`);
        }
      }
    }
  }
  console.log(`\nThe database ${options.database} is left in place for inspection.`);
  if (failures.length === 0) return 0;
  console.log(`\nFAILED:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
  return 1;
}

/** Medians of one target's measured runs; errors summed over warm-up and measured runs. */
function summarize(target, runs) {
  const sum = (pick) => runs.reduce((total, r) => total + (r.warmup ? pick(r.warmup) : 0) + pick(r.measured), 0);
  const checked = runs.filter((r) => r.durability);
  const failed = checked.filter((r) => !r.durability.ok).length;
  let durability = 'n/a (no database)';
  if (checked.length === 1) {
    const d = checked[0].durability;
    durability = `${d.ok ? 'ok' : 'FAILED'}: ${fmtInt(d.measuredRows)} ≥ ${fmtInt(checked[0].measured.ok2xx)}`;
  } else if (checked.length > 1) {
    durability = failed === 0 ? `ok in ${checked.length}/${checked.length} rounds` : `FAILED in ${failed}/${checked.length} rounds`;
  }
  return {
    target,
    rps: median(runs.map((r) => r.measured.requestsPerSecond)),
    p50: median(runs.map((r) => r.measured.p50Ms)),
    p99: median(runs.map((r) => r.measured.p99Ms)),
    cpu: runs.every((r) => r.cpu)
      ? fmtCpu(median(runs.map((r) => r.cpu.percent)), median(runs.map((r) => r.cpu.usPerRequest)))
      : 'n/a',
    wal: runs.every((r) => r.walPerRequest !== undefined) ? fmtInt(median(runs.map((r) => r.walPerRequest))) : 'n/a',
    non2xx: sum((w) => w.non2xx),
    socketErrors: sum((w) => w.socketErrors),
    durability,
    durabilityFailed: failed > 0,
  };
}

/** Service ÷ reference within each round (side by side is what counts), then the median. */
function serviceRatios(runs, options) {
  if (!options.targets.includes('service')) return [];
  return REFERENCES.filter((t) => options.targets.includes(t)).map((reference) => ratio(runs, options, 'service', reference));
}

/**
 * Each server with its durable write ÷ the same server without it: the service against its
 * ceiling, the group-commit reference against raw (the reference's request path alone).
 */
function writeCostRatios(runs, options) {
  const pairs = [
    ['service', 'ceiling'],
    ['group', 'raw'],
  ];
  return pairs
    .filter((pair) => pair.every((target) => runs.some((r) => r.target === target)))
    .map(([withWrite, without]) => ratio(runs, options, withWrite, without));
}

/** a ÷ b within each round, then the median over the rounds. */
function ratio(runs, options, a, b) {
  const byRound = (target, round) => runs.find((r) => r.target === target && r.round === round)?.measured;
  const perRound = [];
  for (let round = 1; round <= options.rounds; round++) {
    const top = byRound(a, round);
    const bottom = byRound(b, round);
    perRound.push({ rps: top.requestsPerSecond / bottom.requestsPerSecond, p99: top.p99Ms / bottom.p99Ms });
  }
  return { name: `${a}/${b}`, rps: median(perRound.map((r) => r.rps)), p99: median(perRound.map((r) => r.p99)) };
}

function rotate(items, by) {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtMs = (ms) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
const fmtRatio = (x) => `${x.toFixed(2)}×`;
const fmtCpu = (percent, usPerRequest) => `${Math.round(percent)}% · ${Math.round(usPerRequest)} µs/req`;
/** A cluster's CPU split: " (primary 1% + workers 90% + 89%)"; nothing for a single process. */
const fmtPerProcess = ({ perProcessPercent: [primary, ...workers] }) =>
  workers.length === 0 ? '' : ` (primary ${Math.round(primary)}% + workers ${workers.map((p) => `${Math.round(p)}%`).join(' + ')})`;
/** The targets started for a process count: single-process targets only run at 1. */
function targetsFor(options, processes) {
  return options.targets.filter((t) => processes === 1 || !SINGLE_PROCESS_TARGETS.includes(t));
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

// ---------------------------------------------------------------------------------------
// Child processes

/** Lines each child printed beyond MAX_FORWARDED_LINES, by name. */
const suppressedLines = new Map();

function spawnChild(name, command, args, { env = process.env, forward = true } = {}) {
  if (interrupted) throw new Error('interrupted'); // start nothing new while stopping
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', () => children.delete(child));
  if (forward) forwardOutput(name, child);
  return child;
}

/** Shows a server's first lines (warnings, errors) prefixed with its name; counts the rest. */
function forwardOutput(name, child) {
  let shown = 0;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (shown++ < MAX_FORWARDED_LINES) console.log(`  [${name}] ${line}`);
      else suppressedLines.set(name, (suppressedLines.get(name) ?? 0) + 1);
    });
  }
}

async function stopChild(child, graceMs = 12_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const descendants = [...processTree(child.pid)].slice(1); // a cluster's workers
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // The service and the references finish in-flight requests, then exit; a cluster's primary
  // forwards the signal to its workers and exits after them.
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // Workers left behind by a primary that was killed or gave up on them: same pid and start time.
  for (const [pid, { startTime }] of descendants) {
    const now = readStat(pid);
    if (now?.startTime !== startTime || now.state === 'Z') continue;
    console.warn(`warning: process ${pid} of ${child.spawnargs.slice(1).join(' ')} outlived its primary; killing it`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited in between
    }
  }
}

/** Stops the load first, then the servers (which finish their in-flight requests). */
async function stopAll() {
  const load = [...children].filter((child) => child.spawnfile === 'wrk');
  await Promise.all(load.map((child) => stopChild(child)));
  await Promise.all([...children].map((child) => stopChild(child)));
}

function exit(code) {
  for (const [name, count] of suppressedLines) console.log(`(${name} printed ${count} more lines, not shown)`);
  process.exit(code);
}

/** Ctrl-C: stop every child (they get the SIGINT too; this covers the rest), exit 130. */
function stopChildrenOnSignals() {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      console.error(`\n${signal}: stopping ${children.size} child process(es)`);
      stopAll().finally(() => exit(130));
    });
  }
}

// ---------------------------------------------------------------------------------------
// Entry point: last, so that every module-level binding above is initialised.

await main().then(
  (exitCode) => stopAll().then(() => exit(exitCode)),
  (error) => {
    if (interrupted) return; // the signal handler stops the children and exits
    console.error(`\nbench:track failed: ${error.stack ?? error.message}`);
    return stopAll().then(() => exit(2));
  },
);
