import cluster from 'node:cluster';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { Server as NetServer, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { ServerClosing } from './server-closing';

/**
 * Once the server is closing, every answer closes its connection. Fastify marks the
 * requests that arrive while it closes; a keep-alive connection whose request was already
 * in flight would stay open after its answer and hold the close, and the process, up until
 * its idle timeout (a load balancer's pool keeps such connections). Requests waiting on
 * something slow outside are told through `serverClosing`.
 */
export function closeConnectionsOnShutdown(
  fastify: FastifyInstance,
  serverClosing: ServerClosing,
): void {
  const sockets = new Set<Socket>();
  openSockets.set(fastify.server, sockets);
  fastify.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  fastify.addHook('preClose', (done) => {
    serverClosing.abort();
    done();
  });
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (serverClosing.signal.aborted) void reply.header('Connection', 'close');
    done(null, payload);
  });
}

const WORKER_LISTENER_CLOSE_MS = 250;

/** Each server's open connections, for what its close leaves open. */
const openSockets = new WeakMap<Server, Set<Socket>>();

/**
 * Whether a request has all arrived on the connection and its answer is under way: Node's
 * own marks (the response it attaches once the headers are in, which its
 * closeIdleConnections reads, and whether the request's body is complete).
 */
function isAnswering(socket: Socket): boolean {
  const response = (socket as Socket & { _httpMessage?: { req?: { complete?: boolean } } })
    ._httpMessage;
  return response != null && response.req?.complete !== false;
}

/**
 * The first step of a graceful stop: no new connection is accepted, and each kept-alive
 * one closes after its next answer, until none is left or `maxMs` has passed. Only then
 * does the server close the connections still idle. Closing them at once (Node's close()
 * does) cuts a request whose bytes are on their way on a busy connection: to the server
 * it looks idle, and its client sees the connection reset, not knowing whether the
 * request was served. After the drain only connections idle through all of it are left.
 */
export async function drainConnections(
  server: Server,
  serverClosing: ServerClosing,
  maxMs: number,
  arrivingMaxMs: number,
): Promise<void> {
  const arrivingUntil = Date.now() + arrivingMaxMs;
  if (!server.listening) return serverClosing.abort();
  // net's close() stops accepting without http's closing of idle connections; the server
  // emits 'close' once its last connection has ended.
  const drained = once(server, 'close');
  NetServer.prototype.close.call(server);
  // A cluster worker's listener closes by a message to the primary, which meanwhile may
  // still accept connections for it, and resets them once every worker has gone. Clients
  // told to close their connection now would reconnect into that: they are told a little
  // later, when the primary no longer accepts for this worker.
  if (cluster.isWorker) await sleep(WORKER_LISTENER_CLOSE_MS);
  serverClosing.abort();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, maxMs)))]);
  clearTimeout(timer);
  closeStalled(openSockets.get(server) ?? new Set(), arrivingUntil);
}

const STALLED_AFTER_MS = 1_000;

/**
 * Node's closeIdleConnections, which closes what is left idle, passes over a connection
 * that has not sent a whole request, and once the server no longer listens nothing else
 * closes it: it would hold the stop until SHUTDOWN_TIMEOUT_MS and an exit 1. Closed here,
 * with nothing being answered on it: one never used at once, one whose request stopped
 * coming (headers or body cut short) once a second passes without a byte. A request
 * still arriving is waited for until `arrivingUntil`: one trickling in must not turn the
 * stop into an exit 1.
 */
function closeStalled(sockets: Set<Socket>, arrivingUntil: number): void {
  const bytesSeen = new Map<Socket, number>();
  const sweep = () => {
    const late = Date.now() >= arrivingUntil;
    for (const socket of sockets) {
      if (isAnswering(socket)) bytesSeen.delete(socket);
      else if (late || socket.bytesRead === 0 || bytesSeen.get(socket) === socket.bytesRead)
        socket.destroy();
      else bytesSeen.set(socket, socket.bytesRead);
    }
    if (sockets.size > 0) setTimeout(sweep, STALLED_AFTER_MS).unref();
  };
  sweep();
}
