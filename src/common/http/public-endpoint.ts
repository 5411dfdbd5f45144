import { HttpCode, Options, Post, applyDecorators } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiForbiddenResponse, ApiOkResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from './error-response.dto';
import { OriginHeader, PublicEndpointErrors } from './public-endpoint-errors';

/**
 * Fastify route config marking the public, browser-facing endpoints: they get the
 * CORS allow-list and (for POSTs) the per-IP rate limit shared by the whole group.
 * Read endpoints carry neither, so they never send credentialed CORS headers.
 */
export interface PublicRouteConfig {
  publicCors?: boolean;
  rateLimited?: boolean;
}

/**
 * The paths of the public endpoints, for what answers before the routes exist (the
 * placeholder while the database is away). A test holds them to the routes.
 */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set([
  '/v1/events/track',
  '/v1/events/track/batch',
  '/v1/events/funnel',
]);

export const PUBLIC_ENDPOINT: PublicRouteConfig = { publicCors: true, rateLimited: true };
export const PUBLIC_PREFLIGHT: PublicRouteConfig = { publicCors: true };

/** A public, browser-facing POST at `path`: CORS allow-list, rate limit, its errors in OpenAPI. */
export function PublicPost(path: string): MethodDecorator {
  return applyDecorators(
    Post(path),
    HttpCode(200),
    RouteConfig(PUBLIC_ENDPOINT),
    OriginHeader(),
    PublicEndpointErrors(),
  );
}

/**
 * The OPTIONS route of a browser's CORS preflight for a public POST at `path`. The CORS
 * hook answers it before any body is read; the route gives it its path and config, and
 * its entry in OpenAPI.
 */
export function CorsPreflight(path: string): MethodDecorator {
  return applyDecorators(
    Options(path),
    HttpCode(200),
    RouteConfig(PUBLIC_PREFLIGHT),
    OriginHeader(),
    ApiOkResponse({ description: 'Preflight accepted; see the Access-Control-Allow-* headers' }),
    ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Origin not allowed' }),
  );
}
