// Reference servers for `bench:track`: the same route and body as the service, without
// NestJS, validation or the ORM, so the service's figures can be read as a fraction of
// what plain Fastify (+ pg) does on the same machine, table and indexes.
//
//   node bench/reference-server.mjs --mode raw|single|group [--port 3000] [--host 127.0.0.1]
//                                   [--processes 1]
//
// BENCH_MODE / PORT / HOST / WORKERS (= --processes) / DATABASE_URL / DB_POOL_SIZE work as
// environment variables too.
//   --processes N  N > 1: node:cluster, as the service with WORKERS=N. The primary only
//                  supervises: it forks N workers that each run this same server on the shared
//                  port, each with its own pg pool of DB_POOL_SIZE (and, for group, its own
//                  batching); it forwards SIGTERM/SIGINT to them and exits once they have exited.
//   raw     parse the JSON body, answer 200; no database (the HTTP ceiling)
//   single  one INSERT … ON CONFLICT DO NOTHING per request (key claim + row), answered after it returns
//   group   group commit: requests queued and flushed on the next tick as one multi-row
//           INSERT … SELECT * FROM unnest(…) per transaction, ≤ 256 rows, ≤ 2 batches in flight;
//           each request is answered only once its batch has committed
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import pg from 'pg';

const MAX_BATCH_ROWS = 256;
const MAX_BATCHES_IN_FLIGHT = 2;
const SHUTDOWN_GRACE_MS = 10_000; // cluster: the primary's wait for its workers to stop

/** The columns the service fills (src/tracking/event.repository.ts), with their SQL types. */
const COLUMNS = [
  ['event_id', 'text'],
  ['event_type', 'text'],
  ['visitor_id', 'text'],
  ['user_id', 'text'],
  ['session_id', 'text'],
  ['occurred_at', 'timestamptz'],
  ['received_at', 'timestamptz'],
  ['utm_source', 'text'],
  ['utm_medium', 'text'],
  ['utm_campaign', 'text'],
  ['utm_term', 'text'],
  ['utm_content', 'text'],
  ['gclid', 'text'],
  ['fbclid', 'text'],
  ['msclkid', 'text'],
  ['page_url', 'text'],
  ['referrer', 'text'],
  ['value', 'numeric'],
  ['currency', 'text'],
  ['properties', 'jsonb'],
  ['source', 'text'],
  ['medium', 'text'],
  ['campaign', 'text'],
  ['channel', 'text'],
  ['user_agent', 'text'],
  ['is_bot', 'boolean'],
  ['origin', 'text'],
  ['ip_prefix', 'text'],
];
const COLUMN_LIST = COLUMNS.map(([name]) => name).join(', ');

// Like the service, each claims the event's key in event_ids first (events is partitioned
// by month, so its own unique keys cannot hold event_id alone) and stores the rows whose
// claim was new.
const INSERT_CLAIMED = `, claimed AS (
  INSERT INTO event_ids (event_id, occurred_at) SELECT event_id, occurred_at FROM input
  ON CONFLICT DO NOTHING RETURNING event_id
)
INSERT INTO events (${COLUMN_LIST}) SELECT ${COLUMN_LIST} FROM input JOIN claimed USING (event_id)`;

const INSERT_ONE = `WITH input AS (
  SELECT ${COLUMNS.map(([name, type], i) => `$${i + 1}::${type} AS ${name}`).join(', ')}
)${INSERT_CLAIMED}`;

// One array parameter per column; a single statement is its own transaction (autocommit),
// so one round trip commits the whole batch.
const INSERT_BATCH = `WITH input AS (
  SELECT * FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
    AS u(${COLUMN_LIST})
)${INSERT_CLAIMED}`;

const options = readOptions();
const clustered = options.processes > 1;
/** How this process names itself in its messages. */
const NAME = `reference-server ${options.mode}${cluster.isWorker ? ` worker ${cluster.worker.id}` : ''}`;

/** Set in the process that serves (a worker, or the only process); the primary has none. */
let pool;
let app;

if (clustered && cluster.isPrimary) superviseWorkers();
else await serve();

async function serve() {
  pool = options.mode === 'raw' ? undefined : createPool();
  const store = { raw: async () => undefined, single: insertOne, group: createGroupCommitter() }[
    options.mode
  ];

  app = Fastify({ logger: false });
  app.post('/v1/events/track', async (request, reply) => {
    const event = request.body ?? {};
    try {
      await store(toRow(event, request));
    } catch (error) {
      console.error(`[${NAME}] insert failed: ${error.message}`);
      return reply.code(503).send({ success: false, error: 'database unavailable' });
    }
    return { success: true, event_id: event.event_id ?? null };
  });

  // Handled once: a worker gets a signal twice on Ctrl-C (from the terminal and forwarded by
  // the primary); a second, unhandled SIGINT would kill it in the middle of its shutdown.
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      void shutdown();
    });
  }

  await app.listen({ port: options.port, host: options.host });
  // In a cluster the primary announces when every worker listens.
  if (!clustered) console.log(`${NAME} listening on http://${options.host}:${options.port}`);
}

/**
 * The cluster's primary: forks the workers (they re-run this file with the same arguments and
 * environment, and serve), forwards SIGTERM/SIGINT to them, and exits once they have all
 * exited: 0 if they all exited cleanly. A worker exiting on its own (a crash, a failed start)
 * stops the others too, so that the run fails visibly instead of going on with fewer workers.
 */
function superviseWorkers() {
  let listening = 0;
  let stopping = false;
  let failed = false;
  const workers = [];
  for (let i = 0; i < options.processes; i++) workers.push(cluster.fork());

  cluster.on('listening', () => {
    listening += 1;
    if (listening === options.processes) {
      console.log(
        `${NAME} listening on http://${options.host}:${options.port} ` +
          `(${options.processes} workers, pids ${workers.map((w) => w.process.pid).join(', ')})`,
      );
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    if (code !== 0 || !stopping) failed = true;
    if (!stopping) {
      console.error(`${NAME}: worker ${worker.id} (pid ${worker.process.pid}) exited (${signal ?? code}); stopping the others`);
      stopAll('SIGTERM');
    }
    if (workers.every((w) => w.isDead())) process.exit(failed ? 1 : 0);
  });

  function stopAll(signal) {
    if (!stopping) {
      // A worker that does not finish its shutdown in time is killed (bench/track.mjs gives
      // the whole tree 12 s before it kills this process).
      setTimeout(() => {
        failed = true;
        for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
      }, SHUTDOWN_GRACE_MS).unref();
    }
    stopping = true;
    for (const worker of workers) if (!worker.isDead()) worker.process.kill(signal);
  }

  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => stopAll(signal));
}

function readOptions() {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: process.env.BENCH_MODE ?? '' },
      port: { type: 'string', default: process.env.PORT ?? '3000' },
      host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
      processes: { type: 'string', default: process.env.WORKERS ?? '1' },
    },
  });
  if (!['raw', 'single', 'group'].includes(values.mode) || !/^[1-9]\d*$/.test(values.processes)) {
    console.error('usage: reference-server.mjs --mode raw|single|group [--port N] [--host H] [--processes N]');
    process.exit(2);
  }
  return { mode: values.mode, port: Number(values.port), host: values.host, processes: Number(values.processes) };
}

function createPool() {
  if (!process.env.DATABASE_URL) {
    console.error(`${NAME}: DATABASE_URL is required`);
    process.exit(2);
  }
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL,
    max: Number(process.env.DB_POOL_SIZE ?? 10), // the service's default DB_POOL_SIZE (per process)
    application_name: `bench-reference-${options.mode}`,
  });
  pool.on('error', (error) => console.error(`[${NAME}] idle client error: ${error.message}`));
  return pool;
}

/**
 * The row the service would store, with cheap stand-ins for its attribution and bot
 * detection: the database work per event is the same, the CPU work is the minimum.
 */
function toRow(event, request) {
  const receivedAt = new Date().toISOString();
  const utmSource = event.utm_source?.toLowerCase() ?? null;
  const utmMedium = event.utm_medium?.toLowerCase() ?? null;
  const source = utmSource ?? '(direct)';
  const medium = utmMedium ?? '(none)';
  const userAgent = request.headers['user-agent'] ?? null;
  return [
    event.event_id ?? crypto.randomUUID(),
    event.event_type,
    event.visitor_id ?? null,
    event.user_id ?? null,
    event.session_id ?? null,
    event.occurred_at ?? receivedAt,
    receivedAt,
    utmSource,
    utmMedium,
    event.utm_campaign ?? null,
    event.utm_term ?? null,
    event.utm_content ?? null,
    event.gclid ?? null,
    event.fbclid ?? null,
    event.msclkid ?? null,
    event.page_url ?? null,
    event.referrer ?? null,
    event.value ?? null,
    event.currency ?? null,
    event.properties == null ? null : JSON.stringify(event.properties),
    source,
    medium,
    event.utm_campaign ?? null,
    channelOf(medium),
    userAgent,
    userAgent !== null && /bot|crawl|spider/i.test(userAgent),
    request.headers.origin ?? null,
    ipPrefix(request.ip),
  ];
}

function channelOf(medium) {
  if (medium === '(none)') return 'direct';
  if (/cp|ppc|paid/.test(medium)) return 'paid_search';
  if (medium === 'organic') return 'organic_search';
  if (medium === 'social') return 'organic_social';
  if (medium === 'email') return 'email';
  if (medium === 'referral') return 'referral';
  return 'other';
}

function ipPrefix(ip) {
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+)\.\d+$/.exec(ip ?? '');
  return v4 ? `${v4[1]}.0/24` : null;
}

async function insertOne(row) {
  await pool.query(INSERT_ONE, row);
}

/**
 * Returns store(row): a promise that settles when the batch holding the row commits.
 * Rows queue up; a flush is scheduled with setImmediate (the next turn of the event loop,
 * after the I/O callbacks that are already due), so every request parsed in the same
 * turn joins the same batch without any fixed wait.
 */
function createGroupCommitter() {
  const queue = [];
  let inFlight = 0;
  let flushScheduled = false;

  function scheduleFlush() {
    if (flushScheduled || queue.length === 0 || inFlight >= MAX_BATCHES_IN_FLIGHT) return;
    flushScheduled = true;
    setImmediate(flush);
  }

  function flush() {
    flushScheduled = false;
    while (queue.length > 0 && inFlight < MAX_BATCHES_IN_FLIGHT) {
      const batch = queue.splice(0, MAX_BATCH_ROWS);
      inFlight += 1;
      insertBatch(batch).finally(() => {
        inFlight -= 1;
        scheduleFlush(); // rows that arrived while both slots were busy
      });
    }
  }

  async function insertBatch(batch) {
    // Column-major: one array per column, the shape unnest() takes.
    const arrays = COLUMNS.map(() => new Array(batch.length));
    batch.forEach(({ row }, r) => row.forEach((value, c) => (arrays[c][r] = value)));
    try {
      await pool.query(INSERT_BATCH, arrays);
      for (const { resolve } of batch) resolve();
    } catch (error) {
      for (const { reject } of batch) reject(error);
    }
  }

  return (row) =>
    new Promise((resolve, reject) => {
      queue.push({ row, resolve, reject });
      scheduleFlush();
    });
}

async function shutdown() {
  try {
    await app.close(); // stops accepting, waits for in-flight requests (and their batches)
    await pool?.end();
    process.exit(0);
  } catch (error) {
    console.error(`${NAME}: shutdown failed: ${error.message}`);
    process.exit(1);
  }
}
