import { readFileSync } from 'node:fs';
import { createPrivateKey, KeyObject } from 'node:crypto';

/** The parts of a Google service-account key file (JSON) the GA4 client uses. */
export interface ServiceAccount {
  clientEmail: string;
  privateKey: KeyObject;
  privateKeyId: string | undefined;
  /** Where to exchange a signed assertion for an access token; unset: a self-signed JWT is the token. */
  tokenUri: string | undefined;
}

/** Reads and checks a key file; throws with a message naming what is wrong. */
export function readServiceAccount(path: string): ServiceAccount {
  return parseServiceAccount(readKeyFile(path), path);
}

/** The key file's text; throws with a message naming the file. */
export function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(
      `cannot read the service-account key file ${path}: ${(error as Error).message}`,
    );
  }
}

/** Checks a key file's text (read from `path`); throws with a message naming what is wrong. */
export function parseServiceAccount(text: string, path: string): ServiceAccount {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `cannot read the service-account key file ${path}: ${(error as Error).message}`,
    );
  }
  const key = json as Record<string, unknown>;
  if (key.type !== 'service_account') throw new Error(`${path} is not a service-account key file`);
  if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string') {
    throw new Error(`${path} lacks client_email or private_key`);
  }
  return {
    clientEmail: key.client_email,
    privateKey: createPrivateKey(key.private_key),
    privateKeyId: typeof key.private_key_id === 'string' ? key.private_key_id : undefined,
    tokenUri: typeof key.token_uri === 'string' ? key.token_uri : undefined,
  };
}
