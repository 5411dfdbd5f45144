import { createHash, timingSafeEqual } from 'node:crypto';
import {
  CanActivate,
  ExecutionContext,
  Injectable,
  UseGuards,
  applyDecorators,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiSecurity,
  ApiServiceUnavailableResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../../config/app-config';
import { InjectConfig } from '../../config/config.module';
import { UnauthorizedError } from './domain-error';
import { ErrorResponseDto } from './error-response.dto';

export const API_KEY_SCHEME = 'api_key';
export const BEARER_SCHEME = 'bearer';

/**
 * Read endpoints need a key from API_KEYS, as `Authorization: Bearer <key>` or
 * `X-API-Key: <key>`. Keys are compared as SHA-256 digests with timingSafeEqual, against
 * every configured key, so timing reveals neither a key's content nor which one matched.
 * With no key configured, nothing is accepted: the read endpoints stay closed.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly digests: Buffer[];

  constructor(@InjectConfig() config: AppConfig) {
    this.digests = config.apiKeys.map(digest);
  }

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    // A keyed answer must not be kept by a shared cache and handed to callers without the
    // key: X-API-Key, unlike Authorization, does not keep it out of one by itself.
    void http.getResponse<FastifyReply>().header('Cache-Control', 'no-store');
    const presented = presentedKeys(http.getRequest<FastifyRequest>());
    if (presented.length === 0)
      throw new UnauthorizedError(
        'An API key is required (Authorization: Bearer <key> or X-API-Key)',
      );
    // Either header may carry the key (a proxy may add the other): one valid key is enough.
    let matched = false;
    for (const key of presented) {
      const candidate = digest(key);
      for (const known of this.digests) matched = timingSafeEqual(candidate, known) || matched;
    }
    if (!matched) throw new UnauthorizedError('The API key is not valid');
    return true;
  }
}

function presentedKeys(request: FastifyRequest): string[] {
  // A proxy may add X-API-Key again, as another line or folded into one ("k, k"); keys
  // hold no comma (API_KEYS is a comma-separated list). The same key repeated counts once;
  // different ones are refused, so that one request cannot try many keys. An injected
  // request (light-my-request) has no headersDistinct.
  const raw = request.raw as Partial<Pick<typeof request.raw, 'headersDistinct'>>;
  const lines = raw.headersDistinct?.['x-api-key'] ?? [request.headers['x-api-key'] ?? ''].flat();
  const sent = new Set(
    lines.flatMap((line) => line.split(',').map((key) => key.trim())).filter((key) => key !== ''),
  );
  if (sent.size > 1) throw new UnauthorizedError('X-API-Key carries different keys');
  const keys = [...sent];
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
  if (bearer !== undefined) keys.push(bearer);
  return keys;
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** Protects a controller or handler with the API key and documents it in OpenAPI. */
export function RequireApiKey(): ClassDecorator & MethodDecorator {
  return applyDecorators(
    UseGuards(ApiKeyGuard),
    ApiSecurity(API_KEY_SCHEME),
    ApiBearerAuth(BEARER_SCHEME),
    ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Missing or invalid API key' }),
    // Every read goes to the database (a handler may document its own 503 over this one).
    ApiServiceUnavailableResponse({
      type: ErrorResponseDto,
      description: 'Database unavailable; see Retry-After',
    }),
  );
}
