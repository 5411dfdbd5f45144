import { rootCause } from '../../common/sql-state';
import { ConnectableDatabase } from '../../persistence/orm-options';
import { PassOutcome, PassSettings } from './attribution-pass';

/** The messages between the refresher and its pass thread. */
export interface WorkerSetup {
  database: ConnectableDatabase;
  settings: PassSettings;
}

export type PassRequest = { type: 'pass'; id: number; limit: number } | { type: 'close' };

export type PassReply =
  | { id: number; outcome: PassOutcome; error?: undefined }
  | { id: number; error: TransferredError; outcome?: undefined };

/** What the error classification reads (SQLSTATE or Node code, name, message): structured clone drops `code`. */
export interface TransferredError {
  name: string;
  message: string;
  code?: string;
}

export function describeError(error: unknown): TransferredError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const cause = rootCause(error);
  const code = (cause as { code?: unknown }).code;
  return {
    name: cause.name,
    message: cause.message,
    ...(typeof code === 'string' ? { code } : {}),
  };
}

export function reviveError(transferred: TransferredError): Error {
  return Object.assign(new Error(transferred.message), transferred);
}
