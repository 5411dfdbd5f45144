export type PgBouncer = import('../../bench/pgbouncer.mjs', {
  with: { 'resolution-mode': 'import' },
}).PgBouncer;

/**
 * A PgBouncer of its own in transaction mode in front of `serverUrl`'s server, with
 * fewer server connections than the service's pool so that consecutive statements
 * of one client connection land on different server sessions, as in production.
 * The launcher is the benchmark's (an ES module, hence the dynamic import).
 */
export async function startPgBouncer(serverUrl: string, serverConnections = 3): Promise<PgBouncer> {
  const { startPgBouncer: start } = await import('../../bench/pgbouncer.mjs');
  return start(serverUrl, { serverConnections });
}
