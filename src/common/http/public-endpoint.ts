import { HttpCode, Options, applyDecorators } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiOkResponse } from '@nestjs/swagger';

/**
 * Fastify route config marking the public, browser-facing endpoints: they get the
 * CORS allow-list and (for POSTs) the per-IP rate limit shared by the whole group.
 * Read endpoints carry neither, so they never send credentialed CORS headers.
 */
export interface PublicRouteConfig {
  publicCors?: boolean;
  rateLimited?: boolean;
}

export const PUBLIC_ENDPOINT: PublicRouteConfig = { publicCors: true, rateLimited: true };
export const PUBLIC_PREFLIGHT: PublicRouteConfig = { publicCors: true };

/** The OPTIONS route answering a browser's CORS preflight for a public POST at `path`. */
export function CorsPreflight(path: string): MethodDecorator {
  return applyDecorators(
    Options(path),
    HttpCode(200),
    RouteConfig(PUBLIC_PREFLIGHT),
    ApiOkResponse({ description: 'Preflight accepted; see the Access-Control-Allow-* headers' }),
  );
}
