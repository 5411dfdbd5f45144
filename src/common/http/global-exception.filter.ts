import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { mapError } from './error-mapping';

/** The single place where errors become HTTP responses, in the SPEC's envelope. */
@Catch()
export class GlobalExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const mapped = mapError(error, String(request.id));
    if (mapped.unexpected) {
      this.logger.error(
        `${request.method} ${request.routeOptions.url ?? 'unknown route'} failed [request ${request.id}]`,
        error instanceof Error ? error.stack : String(error),
      );
    }
    const adapter = this.adapterHost.httpAdapter;
    if (mapped.retryAfterSeconds !== undefined) {
      adapter.setHeader(reply, 'Retry-After', String(mapped.retryAfterSeconds));
    }
    // RFC 9110: a 401 names the scheme that would work (X-API-Key is the other way in).
    if (mapped.status === 401) adapter.setHeader(reply, 'WWW-Authenticate', 'Bearer realm="api"');
    adapter.reply(reply, mapped.body, mapped.status);
  }
}
