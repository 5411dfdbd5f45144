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
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    serverClosing.abort();
    done();
  });
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('Connection', 'close');
    done(null, payload);
  });
}
