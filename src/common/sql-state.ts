/**
 * The SQLSTATEs the service acts on by name (PostgreSQL's condition names, appendix A of its
 * manual); the classes and lists of `http/database-errors.ts` cover the rest.
 */
export const SqlState = {
  invalidParameterValue: '22023',
  invalidAuthorizationSpecification: '28000',
  invalidPassword: '28P01',
  invalidCatalogName: '3D000',
  checkViolation: '23514',
  undefinedTable: '42P01',
  lockNotAvailable: '55P03',
  readOnlySqlTransaction: '25006',
} as const;

/** The SQLSTATE PostgreSQL answered with, if the error came from it, however it was wrapped. */
export function sqlState(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (rootCause(error) as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** MikroORM wraps driver errors in `previous`; knex, umzug and AggregateError use `cause`/`errors`. */
export function rootCause(error: Error): Error {
  const inner =
    (error as { previous?: unknown }).previous ??
    (error as { cause?: unknown }).cause ??
    (error instanceof AggregateError ? (error.errors[0] as unknown) : undefined);
  return inner instanceof Error ? rootCause(inner) : error;
}
