/** Every error a client can see has one of these codes; the exception filter maps each to a status. */
export type ErrorCode =
  | 'validation_failed'
  | 'malformed_body'
  | 'malformed_request'
  | 'request_timeout'
  | 'headers_too_large'
  | 'unauthorized'
  | 'origin_not_allowed'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'database_unavailable'
  | 'overloaded'
  | 'not_ready'
  | 'ga4_not_configured'
  | 'ga4_error'
  | 'ga4_rate_limited'
  | 'ga4_unavailable'
  | 'internal_error';

export interface FieldError {
  field: string;
  message: string;
}

/** Base of the errors services throw; they know nothing about HTTP. */
export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  readonly details: FieldError[] = [];
  /** Seconds a client should wait before retrying, when retrying can help. */
  readonly retryAfterSeconds?: number;
}

export class ValidationFailedError extends DomainError {
  readonly code = 'validation_failed';
  override readonly details: FieldError[];
  constructor(details: FieldError[]) {
    super(`Request validation failed: ${details.map((d) => d.field).join(', ')}`);
    this.details = details;
  }
}

/** A body that cannot be read at all (not JSON, not UTF-8): no field to name. */
export class MalformedBodyError extends DomainError {
  readonly code = 'malformed_body';
}

export class UnauthorizedError extends DomainError {
  readonly code = 'unauthorized';
}

export class NotFoundError extends DomainError {
  readonly code = 'not_found';
}

export class MethodNotAllowedError extends DomainError {
  readonly code = 'method_not_allowed';
}

export class OriginNotAllowedError extends DomainError {
  readonly code = 'origin_not_allowed';
  constructor() {
    super('This origin is not allowed to call this endpoint');
  }
}

/** The per-IP rate limit; the limiter has already set Retry-After. */
export class RateLimitedError extends DomainError {
  readonly code = 'rate_limited';
  constructor(retryIn: string) {
    super(`Rate limit exceeded, retry in ${retryIn}`);
  }
}

export class DatabaseUnavailableError extends DomainError {
  readonly code = 'database_unavailable';
  override readonly retryAfterSeconds = 5;
  /** `reading`: the request only read (a report), so what a write would say does not apply. */
  constructor(reason: string, { reading = false } = {}) {
    // Not "nothing was changed": a statement sent before the database stopped answering
    // may still commit when it comes back. It commits whole or not at all.
    super(
      `The database is unavailable (${reason}); retry later${reading ? '' : ': nothing is half-written, and a resend with the same event_id is never stored twice'}`,
    );
  }
}

/**
 * More events wait to be stored in this process than TRACK_MAX_PENDING_EVENTS: the event
 * is refused before it is queued, rather than queued without bound (clients that hang up
 * no longer hold their requests back, and everyone else would wait behind their events).
 */
export class OverloadedError extends DomainError {
  readonly code = 'overloaded';
  override readonly retryAfterSeconds = 1;
  constructor() {
    super('Too many events are waiting to be stored; nothing of this one was stored: retry later');
  }
}

export class NotReadyError extends DomainError {
  readonly code = 'not_ready';
  override readonly retryAfterSeconds = 5;
  override readonly details: FieldError[];
  constructor(details: FieldError[]) {
    super('The service is not ready');
    this.details = details;
  }
}
