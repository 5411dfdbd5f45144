import { rootCause, SqlState } from '../sql-state';

/**
 * Classifies errors from the PostgreSQL driver, the pool or the ORM. Only what a
 * client can act on gets a class: the database being away (retry later) and text
 * PostgreSQL refuses to store (a client mistake that validation should have caught).
 */
export type DatabaseErrorKind = 'unavailable' | 'conflict' | 'rejected_text';

const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ECONNABORTED',
  'EAI_AGAIN',
]);

// SQLSTATE codes meaning "the server can't serve you right now": a lock not granted in
// time (55P03), a server that takes no writes (25006: a standby, or a primary demoted or
// set read-only while it fails over), and what refuses a new connection to a database
// that is gone (3D000) or no longer lets us in (28000, 28P01); the client can do nothing
// about any of them but retry later.
const UNAVAILABLE_SQLSTATES = new Set<string>([
  SqlState.lockNotAvailable,
  SqlState.readOnlySqlTransaction,
  SqlState.invalidCatalogName,
  SqlState.invalidAuthorizationSpecification,
  SqlState.invalidPassword,
]);
// Whole classes: connection exceptions (08…), insufficient resources (53…: too many
// connections, disk full, out of memory), and operator intervention (57…: a statement
// cancelled or timed out, the server shutting down or starting, the database dropped, a
// session ended for idling).
const UNAVAILABLE_SQLSTATE_CLASSES = ['08', '53', '57'];
// Deadlock and serialization failure: the transaction lost a race and may simply run again.
const CONFLICT_SQLSTATES = new Set(['40P01', '40001']);
const REJECTED_TEXT_SQLSTATES = new Set(['22021', '22P05', '22P02', '2202E']);

const UNAVAILABLE_MESSAGES = [
  /Connection terminated/i,
  /connection timeout/i,
  /Timeout acquiring a connection/i,
  /Client has encountered a connection error/i,
  /Connection ended unexpectedly/i,
  /Query read timeout/i, // pg's query_timeout: the server did not answer in time
  // 55000 (object not in prerequisite state) also names programming errors: only this one.
  /is not currently accepting connections/i,
  /the database system is (starting up|shutting down)/i,
  // knex ended the transaction under the work: its BEGIN (or a statement) timed out or lost
  // the connection, and the work's next statement is refused with this instead of that.
  /Transaction query already complete/i,
];

export function classifyDatabaseError(error: unknown): DatabaseErrorKind | undefined {
  if (!(error instanceof Error)) return undefined;
  const cause = rootCause(error);
  const code = (cause as { code?: unknown }).code;
  // Whatever refused the connection itself: over a Unix socket (`?host=/run/postgresql`) a
  // stopped server is ENOENT (the socket file is gone) or EACCES, codes that elsewhere mean
  // a missing or unreadable file, so they count only as what `connect` met.
  if ((cause as { syscall?: unknown }).syscall === 'connect') return 'unavailable';
  if (typeof code === 'string') {
    if (
      UNAVAILABLE_NODE_CODES.has(code) ||
      UNAVAILABLE_SQLSTATES.has(code) ||
      UNAVAILABLE_SQLSTATE_CLASSES.includes(code.slice(0, 2))
    ) {
      return 'unavailable';
    }
    if (CONFLICT_SQLSTATES.has(code)) return 'conflict';
    if (REJECTED_TEXT_SQLSTATES.has(code)) return 'rejected_text';
  }
  if (cause.name === 'KnexTimeoutError' || cause.name === 'ConnectionException')
    return 'unavailable';
  if (UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(cause.message))) return 'unavailable';
  return undefined;
}

// Reachable, but refusing this service (a setting to correct, or a server that takes no
// writes: a replica in DATABASE_URL), or busy with another's work (a migrations lock held
// past its wait, which names its own remedy): not a wait to sit out.
const NOT_AN_OUTAGE_SQLSTATES = new Set(['3D000', '28000', '28P01', '55P03', '57014', '25006']);

// The same refusals from a pooler: PgBouncer sends each of them as 08P01, a code that
// otherwise means a broken connection.
const NOT_AN_OUTAGE_MESSAGES = [
  /unsupported startup parameter/i,
  /database ".*" does not exist/i,
  /no such (database|user)/i,
  /password authentication failed/i,
  /role ".*" does not exist/i,
];

/** The database server is away (worth waiting for), not refusing or busy. */
export function isUnreachable(error: unknown): boolean {
  const cause = rootCause(error as Error) as Error & { code?: unknown };
  return (
    classifyDatabaseError(error) === 'unavailable' &&
    !(typeof cause.code === 'string' && NOT_AN_OUTAGE_SQLSTATES.has(cause.code)) &&
    !NOT_AN_OUTAGE_MESSAGES.some((pattern) => pattern.test(cause.message))
  );
}
