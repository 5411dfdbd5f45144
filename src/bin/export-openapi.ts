import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { createApp } from '../app.setup';
import { loadConfigOrExit } from '../config/load-config-or-exit';
import { resolveDatabase } from '../persistence/database-location';
import { errorText } from '../common/error-text';

const OUTPUT = 'openapi.json';

/**
 * `npm run openapi` writes the committed openapi.json from the compiled code (where the
 * Swagger CLI plugin has added the DTO schemas); `--check` fails when it is stale.
 */
async function main(): Promise<number> {
  const config = loadConfigOrExit();
  Logger.overrideLogger(['fatal', 'error', 'warn']);
  const database = await resolveDatabase(config.database, undefined, 'command');
  const app = await createApp({ ...config, logLevel: 'warn' }, database.database);
  try {
    // The document as the service serves it: made a second time, @nestjs/swagger would
    // order some schemas' keys otherwise, and openapi.json would differ from /openapi.json.
    const served = await app.getHttpAdapter().getInstance().inject({ url: '/openapi.json' });
    const text = `${JSON.stringify(JSON.parse(served.body), null, 2)}\n`;
    if (!process.argv.includes('--check')) {
      writeFileSync(OUTPUT, text);
      return 0;
    }
    if (readFileSync(OUTPUT, 'utf8') === text) return 0;
    process.stderr.write(`${OUTPUT} is stale: run "npm run openapi" and commit it\n`);
    return 1;
  } finally {
    await app.close();
    await database.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Nest writes fatal to stdout; a command's stdout is its output.
    new Logger('OpenAPI').error(errorText(error));
    process.exit(1);
  },
);
