import { ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { requestOrigin } from '../common/http/cors';

/** What the request itself tells about the event, besides its body. */
export interface RequestContext {
  /** The client address as Fastify resolved it (X-Forwarded-For only with TRUST_PROXY). */
  ip: string | undefined;
  userAgent: string | undefined;
  origin: string | undefined;
  receivedAt: Date;
}

export const ClientRequest = createParamDecorator(
  (_: unknown, context: ExecutionContext): RequestContext => {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    return {
      ip: request.ip,
      userAgent: request.headers['user-agent'],
      origin: requestOrigin(request.headers),
      receivedAt: new Date(),
    };
  },
);
