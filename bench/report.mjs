// `npm run bench:report`: how fast GET /v1/events/conversions (and GET /v1/funnels/default)
// answer on a large history.
//
//   npx nest build && node bench/report.mjs [--events 10000000] [--visitors 1000000]
//                                           [--days 90] [--runs 7] [--database ct_bench_report]
//                                           [--max-default-ms 300] [--max-ms 1000] [--skip-raw]
//                                           [--drop-after]
//
// It recreates the database on the server of DATABASE_URL (default: local PostgreSQL),
// migrates it, loads synthetic events with COPY (90 days, 20 sources, 200 campaigns, 6
// event types, about one event in ten a conversion, some visitors linked to users, 2% bots),
// then starts the built service on it. The service finds credit never computed and folds
// every identity into the attribution rollup, as after any change of REPORT_TIMEZONE or
// CONVERSION_EVENT_TYPES; the bench times that, then times each report over HTTP (one
// warm-up, then --runs runs) and prints medians. A report that uses a non-default
// lookback reads raw events; it is timed once for comparison unless --skip-raw. Each
// visitor is also a subject of the default funnel (entered over --days, 40% past its
// first stage, a fifth of the stages between skipped), for the funnel report's timings
// (which have no budget: they read every subject that entered in the range).
// Exit code 1: a report answered non-200 or its median exceeded its budget.
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  DEFAULT_SERVER_URL,
  ROOT,
  ensureBuilt,
  freePort,
  median,
  migrate,
  printTable,
  recreateDatabase,
  startProdArgs,
  waitForPort,
} from './support.mjs';

const API_KEY = 'bench-report-key-0123456789';
const DAY_MS = 86_400_000;
const SOURCES = Array.from({ length: 20 }, (_, i) => ({
  source: `source${i}`,
  medium: ['cpc', 'email', 'social', 'affiliate', 'display'][i % 5],
}));
const CAMPAIGNS = 200;
const CONVERSION_TYPES = ['purchase', 'sign_up', 'add_to_cart', 'generate_lead', 'subscribe'];
const CURRENCIES = ['USD', 'USD', 'USD', 'USD', 'USD', 'USD', 'USD', 'EUR', 'EUR', 'GBP'];
const COLUMNS = [
  'event_id', 'event_type', 'visitor_id', 'user_id', 'occurred_at', 'received_at',
  'utm_source', 'utm_medium', 'utm_campaign', 'value', 'currency',
  'source', 'medium', 'campaign', 'channel', 'is_bot',
];

const options = readOptions();
ensureBuilt();
const serverUrl = process.env.DATABASE_URL || DEFAULT_SERVER_URL;
const databaseUrl = await recreateDatabase(serverUrl, options.database);
migrate(databaseUrl);
const db = new pg.Client({ connectionString: databaseUrl, application_name: 'bench-report' });
await db.connect();
let service;
let failed = false;
try {
  const now = Date.now();
  await load(db, now);
  service = await startService();
  await waitForRollup(db);
  const timings = await timeReports(service.url, now);
  printTable(['report', 'path', 'median ms', 'min ms', 'max ms', 'budget ms', 'rows'], timings.map((t) => [
    t.name, t.path, t.median.toFixed(1), t.min.toFixed(1), t.max.toFixed(1), t.budget ?? '—', t.rows,
  ]));
  failed = timings.some((t) => t.budget !== undefined && t.median > t.budget);
  if (failed) console.log('\nFAILED: a median exceeded its budget');
} finally {
  if (service) await stop(service.child);
  await db.end();
  if (options.dropAfter) await dropDatabase(serverUrl, options.database);
}
process.exit(failed ? 1 : 0);

function readOptions() {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '10000000' },
      visitors: { type: 'string', default: '1000000' },
      days: { type: 'string', default: '90' },
      runs: { type: 'string', default: '7' },
      database: { type: 'string', default: 'ct_bench_report' },
      'max-default-ms': { type: 'string', default: '300' },
      'max-ms': { type: 'string', default: '1000' },
      'skip-raw': { type: 'boolean', default: false },
      'drop-after': { type: 'boolean', default: false },
    },
  });
  const int = (name) => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < 1) {
      console.error(`bench:report: --${name} must be a whole number ≥ 1, got "${values[name]}"`);
      process.exit(2);
    }
    return value;
  };
  if (!/^[a-z_][a-z0-9_]*$/.test(values.database)) {
    console.error('bench:report: --database must be a plain lower-case identifier');
    process.exit(2);
  }
  return {
    events: int('events'),
    visitors: int('visitors'),
    days: int('days'),
    runs: int('runs'),
    database: values.database,
    maxDefaultMs: int('max-default-ms'),
    maxMs: int('max-ms'),
    skipRaw: values['skip-raw'],
    dropAfter: values['drop-after'],
  };
}

/** A fast deterministic generator (mulberry32), so every run loads the same data. */
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Three visitors in ten are linked to a user (two browsers per user), and half of their
 * events carry the user id. Events are spread evenly over the period.
 */
function* eventLines(now) {
  const random = generator(42);
  const start = now - options.days * DAY_MS;
  const span = options.days * DAY_MS - 60_000;
  for (let n = 0; n < options.events; n++) {
    const visitor = Math.floor(random() * options.visitors);
    const linked = visitor % 10 < 3;
    const userId = linked && random() < 0.5 ? `u${visitor >> 1}` : '';
    const occurredAt = new Date(start + Math.floor(random() * span)).toISOString();
    const type = random() < 0.9 ? 'page_view' : CONVERSION_TYPES[Math.floor(random() * CONVERSION_TYPES.length)];
    let touch = ['', '', '', '(direct)', '(none)', '', 'direct'];
    const roll = random();
    if (roll < 0.45) {
      const campaign = Math.floor(random() * CAMPAIGNS);
      const { source, medium } = SOURCES[campaign % SOURCES.length];
      touch = [source, medium, `campaign${campaign}`, source, medium, `campaign${campaign}`, 'paid_search'];
    } else if (roll < 0.55) {
      const { source } = SOURCES[Math.floor(random() * SOURCES.length)];
      touch = ['', '', '', source, 'referral', '', 'referral'];
    }
    const valued = type === 'purchase';
    const value = valued ? (1 + Math.floor(random() * 50_000) / 100).toFixed(2) : '';
    const currency = valued ? CURRENCIES[Math.floor(random() * CURRENCIES.length)] : '';
    const bot = random() < 0.02 ? 't' : 'f';
    yield [
      `bench-${n}`, type, `v${visitor}`, userId, occurredAt, occurredAt,
      touch[0], touch[1], touch[2], value, currency,
      touch[3], touch[4], touch[5], touch[6], bot,
    ].join('\t') + '\n';
  }
}

function* linkLines(now) {
  for (let visitor = 0; visitor < options.visitors; visitor++) {
    if (visitor % 10 >= 3) continue;
    yield `v${visitor}\tu${visitor >> 1}\t${new Date(now - options.days * DAY_MS).toISOString()}\n`;
  }
}

/**
 * Bulk-load practice: the events table's secondary indexes are dropped for COPY and
 * rebuilt after (on every monthly partition, made first), and the keys claimed after.
 */
async function load(client, now) {
  await client.query('SELECT ensure_event_partitions($1, $2)', [
    new Date(now - options.days * DAY_MS),
    new Date(now),
  ]);
  const { rows: indexes } = await client.query(
    `SELECT indexname, indexdef FROM pg_indexes
     WHERE tablename = 'events' AND indexname <> 'events_pkey'`,
  );
  for (const { indexname } of indexes) {
    await client.query(`ALTER TABLE events DROP CONSTRAINT IF EXISTS ${indexname}`);
    await client.query(`DROP INDEX IF EXISTS ${indexname}`);
  }
  let started = Date.now();
  await copy(client, `COPY events (${COLUMNS.join(', ')}) FROM STDIN WITH (FORMAT text, NULL '')`, eventLines(now));
  await copy(client, 'COPY identity_links (visitor_id, user_id, linked_at) FROM STDIN', linkLines(now));
  await loadFunnel(client, now);
  console.log(`COPY of ${options.events.toLocaleString('en-US')} events: ${seconds(started)} s`);
  started = Date.now();
  await client.query('SET maintenance_work_mem = \'512MB\'');
  // A partitioned table's index definition reads `ON ONLY events`: without ONLY, it is
  // built on every partition too.
  for (const { indexdef } of indexes) await client.query(indexdef.replace(' ON ONLY ', ' ON '));
  await client.query('INSERT INTO event_ids (event_id, occurred_at) SELECT event_id, occurred_at FROM events');
  await client.query('VACUUM ANALYZE events');
  await client.query('VACUUM ANALYZE event_ids');
  await client.query('VACUUM ANALYZE identity_links');
  await client.query('VACUUM ANALYZE funnel_progress');
  await client.query('VACUUM ANALYZE funnel_stage_reached');
  console.log(`indexes rebuilt and tables analysed: ${seconds(started)} s`);
}

/** The default funnel's stages: visit, lead, signup, customer; a subject's current stage is reached. */
async function loadFunnel(client, now) {
  await client.query('SELECT setseed(0.42)');
  await client.query(
    `CREATE TEMP TABLE bench_subjects AS
     SELECT n, 'v' || n AS subject_id, $1::timestamptz - random() * $2 * interval '1 day' AS entered_at,
            CASE WHEN r < 0.6 THEN 0 WHEN r < 0.8 THEN 1 WHEN r < 0.92 THEN 2 ELSE 3 END AS final
     FROM (SELECT n, random() AS r FROM generate_series(0, $3 - 1) n) x`,
    [new Date(now), options.days, options.visitors],
  );
  const stage = `(ARRAY['visit', 'lead', 'signup', 'customer'])`;
  await client.query(
    `INSERT INTO funnel_progress (funnel, subject_type, subject_id, stage_index, stage, entered_at, updated_at)
     SELECT 'default', 'visitor', subject_id, final, ${stage}[final + 1], entered_at, entered_at FROM bench_subjects`,
  );
  await client.query(
    `INSERT INTO funnel_stage_reached (funnel, subject_type, subject_id, stage, stage_index, reached_at, event_id)
     SELECT 'default', 'visitor', subject_id, ${stage}[i + 1], i,
            entered_at + i * interval '1 hour' + random() * interval '50 minutes', 'bench-funnel-' || n || '-' || i
     FROM bench_subjects CROSS JOIN LATERAL generate_series(0, final) i
     WHERE i = 0 OR i = final OR random() < 0.8`,
  );
  await client.query('DROP TABLE bench_subjects');
}

async function copy(client, statement, lines) {
  await pipeline(Readable.from(batched(lines)), client.query(copyFrom(statement)));
}

/** Lines joined into chunks of about 1 MB: one stream write per chunk, not per row. */
function* batched(lines) {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length > 1_000_000) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

async function startService() {
  const port = await freePort();
  const child = spawn(process.execPath, startProdArgs(), {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      API_KEYS: API_KEY,
      LOG_LEVEL: 'info',
      REPORT_TIMEZONE: 'UTC',
      // The raw-events comparison takes longer than the default statement timeout at this size.
      DB_STATEMENT_TIMEOUT_MS: '600000',
    },
  });
  await waitForPort(port, child, 'service', 600_000);
  return { child, url: `http://127.0.0.1:${port}` };
}

async function waitForRollup(client) {
  const started = Date.now();
  const { rows } = await client.query('SELECT count(*)::int AS n FROM attribution_marks');
  console.log(`rollup: ${rows[0].n.toLocaleString('en-US')} identities to fold`);
  for (;;) {
    const { rows: left } = await client.query('SELECT count(*)::int AS n FROM attribution_marks');
    if (left[0].n === 0) break;
    await sleep(1_000);
  }
  const { rows: built } = await client.query(
    `SELECT (SELECT count(*) FROM conversion_credits)::int AS conversions,
            (SELECT count(*) FROM attribution_daily)::int AS rollup_rows`,
  );
  console.log(
    `rollup built in ${seconds(started)} s: ${built[0].conversions.toLocaleString('en-US')} conversions, ` +
      `${built[0].rollup_rows.toLocaleString('en-US')} rollup rows`,
  );
  await client.query('VACUUM ANALYZE attribution_daily');
}

async function timeReports(baseUrl, now) {
  const end = new Date(now).toISOString().slice(0, 10);
  const start = new Date(now - 30 * DAY_MS).toISOString().slice(0, 10);
  const reports = [
    { name: 'default (30 days, last_touch)', query: '', budget: options.maxDefaultMs },
    { name: 'utm_source=source3', query: '?utm_source=source3', budget: options.maxMs },
    { name: 'linear, 30 days', query: `?attribution=linear&start_date=${start}&end_date=${end}`, budget: options.maxMs },
    { name: 'first_touch', query: '?attribution=first_touch', budget: options.maxMs },
    { name: 'position_based', query: '?attribution=position_based', budget: options.maxMs },
    { name: 'time_decay', query: '?attribution=time_decay', budget: options.maxMs },
    { name: 'utm_campaign=campaign7', query: '?utm_campaign=campaign7', budget: options.maxMs },
    { name: 'event_type=purchase', query: '?event_type=purchase', budget: options.maxMs },
    { name: '90 days, linear', query: `?attribution=linear&start_date=${new Date(now - 89 * DAY_MS).toISOString().slice(0, 10)}`, budget: options.maxMs },
  ];
  if (!options.skipRaw) reports.push({ name: 'lookback_days=31 (raw events)', query: '?lookback_days=31', runs: 1 });
  reports.push(
    { name: 'funnel, 30 days', path: '/v1/funnels/default', query: '' },
    { name: `funnel, ${options.days} days`, path: '/v1/funnels/default', query: `?start_date=${new Date(now - (options.days - 1) * DAY_MS).toISOString().slice(0, 10)}` },
  );
  const results = [];
  for (const report of reports) {
    const runs = report.runs ?? options.runs;
    const times = [];
    let rows = 0;
    for (let i = 0; i <= runs; i++) {
      const started = performance.now();
      const response = await fetch(`${baseUrl}${report.path ?? '/v1/events/conversions'}${report.query}`, {
        headers: { 'X-API-Key': API_KEY },
      });
      const body = await response.json();
      const elapsed = performance.now() - started;
      if (response.status !== 200) throw new Error(`${report.name}: ${response.status} ${JSON.stringify(body)}`);
      rows = (body.by_source ?? body.stages).length;
      if (i > 0 || runs === 1) times.push(elapsed); // the first run warms caches
    }
    results.push({
      name: report.name,
      path: report.path ? 'funnel' : report.query.includes('lookback_days') ? 'raw' : 'rollup',
      median: median(times),
      min: Math.min(...times),
      max: Math.max(...times),
      budget: report.budget,
      rows,
    });
  }
  return results;
}

async function dropDatabase(url, name) {
  const admin = new pg.Client({ connectionString: url, application_name: 'bench-report' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

async function stop(child) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

function seconds(since) {
  return ((Date.now() - since) / 1000).toFixed(1);
}
