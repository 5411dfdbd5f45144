import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { resolve } from 'node:path';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { Ga4Client } from './ga4-client';
import { Ga4DataApiClient } from './ga4-data-api.client';
import { Ga4NotConfiguredError } from './ga4.errors';
import { ServiceAccount, parseServiceAccount, readKeyFile } from './service-account';

/**
 * The configured GA4 client, built on first use and again when the key file changes. Reconciliation is optional: without
 * GA4 settings the rest of the service runs and reconciliation answers 503 saying
 * which variables to set.
 */
@Injectable()
export class Ga4Clients implements OnApplicationBootstrap {
  private readonly logger = new Logger(Ga4Clients.name);
  /** The client built from the key file's current text. */
  private built: { keyFile: string; client: Ga4Client } | undefined;

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  /** Half the settings is most likely a mistake: said at start, not at the first report. */
  onApplicationBootstrap(): void {
    const { propertyId, credentialsFile } = this.config.ga4;
    if (hasGa4Settings(this.config.ga4) || (propertyId ?? credentialsFile) === undefined) return;
    const [set, unset] =
      propertyId === undefined
        ? ['GA4_CREDENTIALS_FILE', 'GA4_PROPERTY_ID']
        : ['GA4_PROPERTY_ID', 'GA4_CREDENTIALS_FILE'];
    this.logger.warn(`${set} is set without ${unset}: reconciliation answers 503 until both are`);
  }

  /**
   * Called at each attempt: the key file is read again each time, so a rotated key is
   * used from the next attempt on, without a restart (an unchanged file keeps its client
   * and its cached access token).
   */
  client(): Ga4Client {
    const { propertyId, credentialsFile, apiUrl, pageSize, timeoutMs, retries } = this.config.ga4;
    const missing = [
      ...(propertyId === undefined ? ['GA4_PROPERTY_ID'] : []),
      ...(credentialsFile === undefined ? ['GA4_CREDENTIALS_FILE'] : []),
    ];
    if (propertyId === undefined || credentialsFile === undefined) {
      throw new Ga4NotConfiguredError(
        `GA4 is not configured: set ${missing.join(' and ')} (see README, "GA4 reconciliation")`,
      );
    }
    const path = resolve(credentialsFile);
    let keyFile: string;
    let account: ServiceAccount;
    try {
      keyFile = readKeyFile(path);
      if (this.built?.keyFile === keyFile) return this.built.client;
      account = parseServiceAccount(keyFile, path);
    } catch (error) {
      this.logger.warn(`GA4_CREDENTIALS_FILE is unusable: ${(error as Error).message}`);
      throw new Ga4NotConfiguredError(
        `GA4 is not configured: GA4_CREDENTIALS_FILE does not hold a readable service-account key`,
      );
    }
    const client = new Ga4DataApiClient(
      propertyId,
      { apiUrl, pageSize, http: { timeoutMs, retries, backoffMs: 250 } },
      account,
    );
    this.built = { keyFile, client };
    return client;
  }
}

/** Both GA4 settings given (the key file may still prove unreadable when it is read). */
export function hasGa4Settings(ga4: AppConfig['ga4']): boolean {
  return ga4.propertyId !== undefined && ga4.credentialsFile !== undefined;
}
