import { DomainError } from '../common/http/domain-error';

/** GA4 settings are missing or unusable: the message names the variables to set. */
export class Ga4NotConfiguredError extends DomainError {
  readonly code = 'ga4_not_configured';
}

/** GA4 answered with an error (refused credentials, no access, bad request…). */
export class Ga4ResponseError extends DomainError {
  readonly code = 'ga4_error';
  constructor(
    readonly httpStatus: number,
    readonly ga4Status: string,
    ga4Message: string,
  ) {
    super(`GA4 answered ${httpStatus} ${ga4Status}: ${ga4Message}`);
  }
}

/** GA4's quota is exhausted; retrying after `retryAfterSeconds` can help. */
export class Ga4QuotaError extends DomainError {
  readonly code = 'ga4_rate_limited';
  constructor(
    ga4Message: string,
    override readonly retryAfterSeconds: number,
  ) {
    super(`GA4 quota exhausted (RESOURCE_EXHAUSTED): ${ga4Message}`);
  }
}

/** GA4 could not be reached or did not answer in time. */
export class Ga4UnavailableError extends DomainError {
  readonly code = 'ga4_unavailable';
  constructor(reason: string) {
    super(`GA4 is unavailable: ${reason}`);
  }
}
