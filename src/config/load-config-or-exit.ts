import { AppConfig, loadConfig } from './app-config';
import { InvalidEnvironmentError } from './env-parsers';

/** For entry points: a bad environment stops the process with the reason, not a stack trace. */
export function loadConfigOrExit(): AppConfig {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof InvalidEnvironmentError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(78); // EX_CONFIG
  }
}
