export interface PgBouncer {
  /** The server URL with its host and port replaced by the pooler's. */
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

export function startPgBouncer(
  serverUrl: string,
  options?: { serverConnections?: number; maxClients?: number },
): Promise<PgBouncer>;
