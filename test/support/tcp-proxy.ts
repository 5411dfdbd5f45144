import { AddressInfo, Server, Socket, createConnection, createServer } from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that a test can cut and restore, or freeze, to make the database "go away" for the application without touching the real
 * server.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private frozen = false;
  private readonly abandoned = new Set<Socket>();
  port = 0;

  /** `socketPath`: listen on that Unix socket instead of a TCP port on loopback. */
  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly socketPath?: string,
  ) {}

  async start(port = 0): Promise<void> {
    this.server = createServer((client) => {
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => {
          this.sockets.delete(socket);
          this.abandoned.delete(socket);
        });
        socket.on('error', () => socket.destroy());
      }
      this.forward(client, upstream);
      this.forward(upstream, client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    if (this.socketPath !== undefined) {
      await new Promise<void>((resolve) => this.server!.listen(this.socketPath, resolve));
      return;
    }
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Drops every open connection and refuses new ones. */
  async cut(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
    this.server = undefined;
  }

  /** Listens again on the same port. */
  restore(): Promise<void> {
    return this.start(this.port);
  }

  /** Connections stay open, but nothing goes through: a server or network that stopped answering. */
  freeze(): void {
    this.frozen = true;
  }

  /**
   * The connections open now never answer again (a peer that silently lost them, as
   * behind a NAT or a failover); new connections go through.
   */
  abandonOpenConnections(): void {
    for (const socket of this.sockets) this.abandoned.add(socket);
    this.frozen = false;
  }

  private forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!this.frozen && !this.abandoned.has(from)) to.write(chunk);
    });
  }
}
