// The `ceiling` target of `bench:track`: the built service, started as dist/src/main.js
// starts it (same configuration, Nest pipeline, hooks, validation, attribution, metrics,
// answer), except that the group commit answers every event at once as stored, without
// a database round trip. What it serves per second is the most the service could serve
// if storing cost nothing, so beside `raw` it shows what the service's own request path
// costs, and beside `service` what its database write costs.
//
// Not a mode of the service: it replaces one method of the running app's EventBatcher
// from outside, so the production build carries no switch that skips the write.
import 'reflect-metadata';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Logger } = require('@nestjs/common');
const { createApp, nestLogLevels } = require('../dist/src/app.setup.js');
const { loadConfigOrExit } = require('../dist/src/config/load-config-or-exit.js');
const { resolveDatabase } = require('../dist/src/persistence/database-location.js');
const { EventBatcher } = require('../dist/src/tracking/event-batcher.js');

const config = loadConfigOrExit();
Logger.overrideLogger(nestLogLevels(config));
if (config.http.workers > 1) {
  console.error('service-ceiling.mjs runs one process (WORKERS=1)');
  process.exit(2);
}
const database = await resolveDatabase(config.database);
const app = await createApp(config, database.database);

// What trackMany answers for a new event: stored, and each funnel target reached afresh.
app.get(EventBatcher).track = async ({ targets }) => ({
  stored: true,
  funnelUpdates: targets.map(({ funnel, stage }) => ({
    funnel,
    stage,
    previous_stage: null,
    advanced: true,
  })),
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, async () => {
    await app.close();
    await database.stop();
    process.exit(0);
  });
}
await app.listen({ port: config.http.port, host: config.http.host });
console.log(`service-ceiling listening on http://${config.http.host}:${config.http.port}`);
