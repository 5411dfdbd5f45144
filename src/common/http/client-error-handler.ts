import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { ErrorCode } from './domain-error';
import { ErrorResponseDto } from './error-response.dto';

interface ParserError extends Error {
  code?: string;
}

function describe(error: ParserError): { status: number; code: ErrorCode; message: string } {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return {
      status: 408,
      code: 'request_timeout',
      message: 'The request did not arrive whole in time',
    };
  if (error.code === 'HPE_HEADER_OVERFLOW')
    return {
      status: 431,
      code: 'headers_too_large',
      message: 'The request headers are larger than the server accepts',
    };
  return { status: 400, code: 'malformed_request', message: 'The request is not valid HTTP/1.1' };
}

/**
 * Answers what Node's HTTP parser refuses before there is a request (a request that does
 * not arrive in time, oversized headers, a malformed request line or framing) in the one
 * error envelope, instead of Fastify's own body. No route, hook or request id exists yet,
 * so the id is a fresh one, sent in the header as on every answer, and the connection is
 * closed: its framing cannot be trusted.
 */
export function answerClientError(error: ParserError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const { status, code, message } = describe(error);
    const requestId = randomUUID();
    const body: ErrorResponseDto = {
      success: false,
      error: { code, message, details: [] },
      request_id: requestId,
    };
    const json = JSON.stringify(body);
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(json)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        json,
    );
  }
  socket.destroy(error);
}

/**
 * HTTP/1.1 requires a Host header (RFC 9112 §3.2). Node refuses a request without one
 * with an empty 400 of its own, so the server lets it through (`requireHostHeader:
 * false`) and this hook refuses it, in the envelope, like any request HTTP cannot accept.
 */
export function registerHostHeaderCheck(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (request.raw.httpVersion !== '1.1' || request.headers.host !== undefined) return done();
    const body: ErrorResponseDto = {
      success: false,
      error: {
        code: 'malformed_request',
        message: 'An HTTP/1.1 request needs a Host header',
        details: [],
      },
      request_id: String(request.id),
    };
    void reply.code(400).header('Connection', 'close').send(body);
  });
}
