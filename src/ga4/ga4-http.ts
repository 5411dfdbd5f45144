import { setTimeout as sleep } from 'node:timers/promises';
import { Ga4QuotaError, Ga4ResponseError, Ga4UnavailableError } from './ga4.errors';

export interface Ga4HttpOptions {
  /** Per attempt: GA4 not answering within it counts as unavailable. */
  timeoutMs: number;
  /** Further attempts after a 429, a 503 or a network failure (RunReport has no retry of its own). */
  retries: number;
  /** First wait between attempts; doubled each time. */
  backoffMs: number;
}

/** Google's error body: `{"error": {"code", "message", "status"}}`; OAuth's: `{"error", "error_description"}`. */
interface GoogleErrorBody {
  error?: { code?: number; message?: string; status?: string } | string;
  error_description?: string;
}

const RETRYABLE_STATUSES = new Set([429, 503]);
const DEFAULT_QUOTA_RETRY_AFTER_S = 60;
const MAX_HONOURED_RETRY_AFTER_MS = 5_000;

/**
 * One JSON call to a Google endpoint with a timeout per attempt and retries with
 * exponential backoff where retrying can help; every failure becomes a typed GA4 error.
 */
export async function ga4Fetch(
  url: string,
  options: Ga4HttpOptions,
  init: RequestInit & { signal?: AbortSignal },
): Promise<unknown> {
  const { signal: stop, ...request } = init;
  let failure: Error = new Ga4UnavailableError('no attempt was made');
  /** What the last answer asked to wait before the next attempt (Retry-After). */
  let askedWaitMs = 0;
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    try {
      if (attempt > 0) {
        const backoffMs = options.backoffMs * 2 ** (attempt - 1);
        await sleep(Math.max(backoffMs, askedWaitMs), undefined, { signal: stop });
      }
    } catch {
      throw stopped();
    }
    const timeout = AbortSignal.timeout(options.timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, {
        ...request,
        signal: stop ? AbortSignal.any([timeout, stop]) : timeout,
      });
    } catch (error) {
      if (stop?.aborted) throw stopped();
      failure = new Ga4UnavailableError(describeFetchFailure(error, options.timeoutMs));
      continue;
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      // The answer stalled or was cut short after its headers: as unreachable as no answer.
      if (stop?.aborted) throw stopped();
      failure = new Ga4UnavailableError(describeBodyFailure(error, options.timeoutMs));
      continue;
    }
    if (response.ok) {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      // Every Google answer this service reads is a JSON object; `null` or `[]` is a broken one.
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new Ga4UnavailableError(
          `${new URL(url).pathname} answered with a body that is not a JSON object`,
        );
      }
      return body;
    }
    failure = toGa4Error(response, text);
    if (!RETRYABLE_STATUSES.has(response.status) && !text.includes('"UNAVAILABLE"')) throw failure;
    const retryAfterMs = Number(response.headers.get('retry-after')) * 1000;
    if (retryAfterMs > MAX_HONOURED_RETRY_AFTER_MS) break; // the caller is better told to come back later
    askedWaitMs = Number.isFinite(retryAfterMs) && retryAfterMs > 0 ? retryAfterMs : 0;
  }
  throw failure;
}

/** The caller gave up (the service is stopping): no more attempts. */
function stopped(): Error {
  return new Ga4UnavailableError('the request was stopped: the service is shutting down');
}

/** `work`, or the stop error as soon as `signal` aborts (work shared with other callers goes on for them). */
export function unlessStopped<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.reject(stopped());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(stopped());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function toGa4Error(response: Response, text: string): Error {
  let body: GoogleErrorBody = {};
  try {
    // `null` or a bare value is no error body either: fall back to the status line.
    body = (JSON.parse(text) as GoogleErrorBody | null) ?? {};
    if (typeof body !== 'object') body = {};
  } catch {
    // not JSON: fall back to the status line
  }
  const error = body.error;
  // Google's gRPC status name, or OAuth's own error code (`invalid_grant`) from the token endpoint.
  const status = (typeof error === 'object' ? error.status : error) || statusName(response.status);
  const message =
    typeof error === 'object'
      ? (error.message ?? response.statusText)
      : (body.error_description ?? error ?? response.statusText);
  if (response.status === 429) {
    const retryAfter = Number(response.headers.get('retry-after'));
    return new Ga4QuotaError(
      message,
      retryAfter > 0 ? Math.ceil(retryAfter) : DEFAULT_QUOTA_RETRY_AFTER_S,
    );
  }
  if (response.status === 503 || status === 'UNAVAILABLE')
    return new Ga4UnavailableError(`${response.status} ${status}: ${message}`);
  return new Ga4ResponseError(response.status, status, message);
}

function statusName(httpStatus: number): string {
  switch (httpStatus) {
    case 400:
      return 'INVALID_ARGUMENT';
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 503:
      return 'UNAVAILABLE';
    default:
      return `HTTP_${httpStatus}`;
  }
}

function describeFetchFailure(error: unknown, timeoutMs: number): string {
  if (isTimeout(error)) return `no answer within ${timeoutMs} ms`;
  return `cannot connect${causeOf(error)}`;
}

function describeBodyFailure(error: unknown, timeoutMs: number): string {
  if (isTimeout(error)) return `the answer did not arrive whole within ${timeoutMs} ms`;
  return `the answer was cut short${causeOf(error)}`;
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

function causeOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : '';
  return cause ? ` (${cause})` : '';
}
