// `npm run bench:soak`: does the service's memory stay flat under steady load?
//
//   npx nest build && node bench/soak.mjs [--rate 3000] [--seconds 300] [--connections 50]
//                                         [--database ct_bench_soak]
//
// Starts the built service (as `npm run start:prod` runs it) on a fresh database, sends
// POST /v1/events/track at a fixed rate (--rate, e.g. 70% of the peak bench:track measured)
// from --connections keep-alive connections for --seconds, samples the service's resident
// memory every 10 s, and prints start, end and peak RSS with the latency percentiles.
// Exit code 1 when requests failed or when RSS at the end exceeds the first sample after
// warm-up by more than 25%.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  DEFAULT_SERVER_URL,
  ROOT,
  ensureBuilt,
  freePort,
  migrate,
  printTable,
  recreateDatabase,
  startProdArgs,
  waitForPort,
} from './support.mjs';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '300' },
    connections: { type: 'string', default: '50' },
    database: { type: 'string', default: 'ct_bench_soak' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const connections = Number(values.connections);

ensureBuilt();
const databaseUrl = await recreateDatabase(process.env.DATABASE_URL || DEFAULT_SERVER_URL, values.database);
migrate(databaseUrl);
const port = await freePort();
const child = spawn(process.execPath, startProdArgs(), {
  cwd: ROOT,
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'warn' },
});
await waitForPort(port, child, 'service');

const rssMb = () => {
  const line = readFileSync(`/proc/${child.pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) / 1024;
};
// A browser's agent: the service flags other agents as bots, and bots skip the attribution rollup.
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const latencies = [];
let sent = 0;
let failed = 0;
let counter = 0;

function post() {
  const body = JSON.stringify({
    event_id: `soak-${process.pid}-${counter++}`,
    event_type: counter % 10 === 0 ? 'purchase' : 'page_view',
    visitor_id: `v_${counter % 20_000}`,
    page_url: 'https://shop.example.com/?utm_source=google&utm_medium=cpc&utm_campaign=soak',
    ...(counter % 10 === 0 ? { value: 19.9, currency: 'EUR' } : {}),
  });
  const started = performance.now();
  sent++;
  const request = http.request(
    { host: '127.0.0.1', port, path: '/v1/events/track', method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'User-Agent': BROWSER } },
    (response) => {
      response.resume();
      response.on('end', () => {
        latencies.push(performance.now() - started);
        if (response.statusCode !== 200) failed++;
      });
    },
  );
  request.on('error', () => failed++);
  request.end(body);
}

// A fixed rate, in 10 ms ticks, whatever the latency (an open model, not back-to-back).
const samples = [];
const begin = Date.now();
let due = 0;
const ticker = setInterval(() => {
  due += rate / 100;
  while (due >= 1) {
    post();
    due--;
  }
}, 10);
for (let t = 0; t <= seconds; t += 10) {
  samples.push({ t, rss: rssMb() });
  console.log(`t=${t}s sent ${sent}, failed ${failed}, rss ${samples.at(-1).rss.toFixed(1)} MB`);
  if (t < seconds) await sleep(Math.max(0, begin + (t + 10) * 1000 - Date.now()));
}
clearInterval(ticker);
await sleep(2_000);
child.kill('SIGTERM');

latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
const afterWarmup = samples.find((s) => s.t >= 30) ?? samples[0];
const end = samples.at(-1);
const peak = Math.max(...samples.map((s) => s.rss));
printTable(
  ['rate/s', 'seconds', 'sent', 'failed', 'p50 ms', 'p99 ms', 'RSS start MB', 'RSS at 30 s MB', 'RSS end MB', 'RSS peak MB'],
  [[rate, seconds, sent, failed, pct(50), pct(99), samples[0].rss.toFixed(1), afterWarmup.rss.toFixed(1), end.rss.toFixed(1), peak.toFixed(1)]],
);
const grew = end.rss > afterWarmup.rss * 1.25;
if (failed > 0 || grew) console.log(`\nFAILED: ${failed} failed requests${grew ? ', RSS grew more than 25% after warm-up' : ''}`);
process.exit(failed > 0 || grew ? 1 : 0);
