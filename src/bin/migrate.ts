import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { loadConfigOrExit } from '../config/load-config-or-exit';
import { resolveDatabase, redact } from '../persistence/database-location';
import { migrateDatabase } from '../persistence/migrate';
import { errorText } from '../common/error-text';

/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database). */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = new Logger('Migrate');
  if (config.database.url === undefined) {
    // Starting the embedded database applies the migrations.
    const embedded = await resolveDatabase(config.database, logger, 'migrate');
    await embedded.stop();
    return;
  }
  const applied = await migrateDatabase({ ...config.database, url: config.database.url });
  logger.log(
    applied.length > 0
      ? `Applied: ${applied.join(', ')}`
      : `Nothing to apply on ${redact(config.database.url)}`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    // Nest writes fatal to stdout; a command's stdout is its output.
    new Logger('Migrate').error(errorText(error));
    process.exit(1);
  },
);
