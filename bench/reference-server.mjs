// Reference servers for `bench:track`: the same route and body as the service, without
// NestJS, validation or the ORM, so the service's figures can be read as a fraction of
// what plain Fastify (+ pg) does on the same machine, table and indexes.
//
//   node bench/reference-server.mjs --mode raw|single|group [--port 3000] [--host 127.0.0.1]
//
// BENCH_MODE / PORT / HOST / DATABASE_URL / DB_POOL_SIZE work as environment variables too.
//   raw     parse the JSON body, answer 200; no database (the HTTP ceiling)
//   single  one INSERT … ON CONFLICT (event_id) DO NOTHING per request, answered after it returns
//   group   group commit: requests queued and flushed on the next tick as one multi-row
//           INSERT … SELECT * FROM unnest(…) per transaction, ≤ 256 rows, ≤ 2 batches in flight;
//           each request is answered only once its batch has committed
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import pg from 'pg';

const MAX_BATCH_ROWS = 256;
const MAX_BATCHES_IN_FLIGHT = 2;

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

const INSERT_ONE = `INSERT INTO events (${COLUMN_LIST})
VALUES (${COLUMNS.map(([, type], i) => `$${i + 1}::${type}`).join(', ')})
ON CONFLICT (event_id) DO NOTHING`;

// One array parameter per column; a single statement is its own transaction (autocommit),
// so one round trip commits the whole batch.
const INSERT_BATCH = `INSERT INTO events (${COLUMN_LIST})
SELECT * FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
ON CONFLICT (event_id) DO NOTHING`;

const options = readOptions();
const pool = options.mode === 'raw' ? undefined : createPool();
const store = { raw: async () => undefined, single: insertOne, group: createGroupCommitter() }[
  options.mode
];

const app = Fastify({ logger: false });
app.post('/v1/events/track', async (request, reply) => {
  const event = request.body ?? {};
  try {
    await store(toRow(event, request));
  } catch (error) {
    console.error(`[${options.mode}] insert failed: ${error.message}`);
    return reply.code(503).send({ success: false, error: 'database unavailable' });
  }
  return { success: true, event_id: event.event_id ?? null };
});

await app.listen({ port: options.port, host: options.host });
console.log(`reference-server ${options.mode} listening on http://${options.host}:${options.port}`);

for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => void shutdown());

function readOptions() {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: process.env.BENCH_MODE ?? '' },
      port: { type: 'string', default: process.env.PORT ?? '3000' },
      host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    },
  });
  if (!['raw', 'single', 'group'].includes(values.mode)) {
    console.error('usage: reference-server.mjs --mode raw|single|group [--port N] [--host H]');
    process.exit(2);
  }
  return { mode: values.mode, port: Number(values.port), host: values.host };
}

function createPool() {
  if (!process.env.DATABASE_URL) {
    console.error(`reference-server ${options.mode}: DATABASE_URL is required`);
    process.exit(2);
  }
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL,
    max: Number(process.env.DB_POOL_SIZE ?? 10), // the service's default DB_POOL_SIZE
    application_name: `bench-reference-${options.mode}`,
  });
  pool.on('error', (error) => console.error(`[${options.mode}] idle client error: ${error.message}`));
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
    console.error(`reference-server ${options.mode}: shutdown failed: ${error.message}`);
    process.exit(1);
  }
}
