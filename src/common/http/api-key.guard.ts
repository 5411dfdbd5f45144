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
import type { FastifyRequest } from 'fastify';
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
    const presented = presentedKey(context.switchToHttp().getRequest<FastifyRequest>());
    if (presented === undefined)
      throw new UnauthorizedError(
        'An API key is required (Authorization: Bearer <key> or X-API-Key)',
      );
    const candidate = digest(presented);
    let matched = false;
    for (const known of this.digests) matched = timingSafeEqual(candidate, known) || matched;
    if (!matched) throw new UnauthorizedError('The API key is not valid');
    return true;
  }
}

function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
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
