import { HttpException, HttpStatus } from '@nestjs/common';
import { assertUnreachable } from '../assert-unreachable';
import { classifyDatabaseError } from './database-errors';
import {
  DatabaseUnavailableError,
  DomainError,
  ErrorCode,
  ValidationFailedError,
} from './domain-error';
import { ErrorResponseDto } from './error-response.dto';

export interface MappedError {
  status: number;
  body: ErrorResponseDto;
  retryAfterSeconds?: number;
  /** Unexpected errors are logged with their stack; expected ones are not. */
  unexpected: boolean;
}

export function statusForCode(code: ErrorCode): number {
  switch (code) {
    case 'validation_failed':
    case 'malformed_body':
    case 'malformed_request':
      return HttpStatus.BAD_REQUEST;
    case 'request_timeout':
      return HttpStatus.REQUEST_TIMEOUT;
    case 'headers_too_large':
      return 431; // Request Header Fields Too Large, which HttpStatus does not name
    case 'unauthorized':
      return HttpStatus.UNAUTHORIZED;
    case 'origin_not_allowed':
      return HttpStatus.FORBIDDEN;
    case 'not_found':
      return HttpStatus.NOT_FOUND;
    case 'method_not_allowed':
      return HttpStatus.METHOD_NOT_ALLOWED;
    case 'payload_too_large':
      return HttpStatus.PAYLOAD_TOO_LARGE;
    case 'unsupported_media_type':
      return HttpStatus.UNSUPPORTED_MEDIA_TYPE;
    case 'rate_limited':
    case 'ga4_rate_limited':
      return HttpStatus.TOO_MANY_REQUESTS;
    case 'database_unavailable':
    case 'overloaded':
    case 'not_ready':
    case 'ga4_not_configured':
      return HttpStatus.SERVICE_UNAVAILABLE;
    case 'ga4_error':
    case 'ga4_unavailable':
      return HttpStatus.BAD_GATEWAY;
    case 'internal_error':
      return HttpStatus.INTERNAL_SERVER_ERROR;
    default:
      return assertUnreachable(code);
  }
}

export function mapError(error: unknown, requestId: string): MappedError {
  const domain = toDomainError(error);
  if (domain) {
    return {
      status: statusForCode(domain.code),
      body: envelope(domain.code, domain.message, requestId, domain.details),
      retryAfterSeconds: domain.retryAfterSeconds,
      unexpected: false,
    };
  }
  const client = clientError(error);
  if (client) {
    const code = codeForFrameworkStatus(client.status);
    if (code)
      return { ...client, body: envelope(code, client.message, requestId), unexpected: false };
  }
  return {
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    body: envelope('internal_error', 'Internal server error', requestId),
    unexpected: true,
  };
}

/** The domain error an error stands for, when it is one a client can act on. */
export function toDomainError(error: unknown): DomainError | undefined {
  if (error instanceof DomainError) return error;
  switch (classifyDatabaseError(error)) {
    case 'unavailable':
      return new DatabaseUnavailableError('connection failed or timed out');
    case 'conflict':
      return new DatabaseUnavailableError('a concurrent write conflicted');
    case 'rejected_text':
      return new ValidationFailedError([
        { field: 'body', message: 'contains text the database cannot store (e.g. \\u0000)' },
      ]);
    case undefined:
      return undefined;
  }
}

/**
 * A client error raised by Nest, or by a Fastify plugin in the http-errors style (a
 * `statusCode` on the error): @fastify/static refuses a path that climbs out of its root
 * (`/docs/../x`) with 403, answered as not found, since nothing is served there.
 */
function clientError(error: unknown): { status: number; message: string } | undefined {
  if (error instanceof HttpException) return { status: error.getStatus(), message: error.message };
  if (!(error instanceof Error)) return undefined;
  const status = (error as { statusCode?: unknown }).statusCode;
  if (typeof status !== 'number' || status < 400 || status > 499) return undefined;
  return status === 403
    ? { status: 404, message: 'Not found' }
    : { status, message: error.message };
}

/** Errors raised by Fastify or Nest themselves (routing, body parsing, limits). */
function codeForFrameworkStatus(status: number): ErrorCode | undefined {
  switch (status) {
    case 400:
      return 'malformed_body';
    case 404:
      return 'not_found';
    case 405:
      return 'method_not_allowed';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    default:
      return undefined;
  }
}

function envelope(
  code: ErrorCode,
  message: string,
  requestId: string,
  details: ErrorResponseDto['error']['details'] = [],
): ErrorResponseDto {
  return { success: false, error: { code, message, details }, request_id: requestId };
}
