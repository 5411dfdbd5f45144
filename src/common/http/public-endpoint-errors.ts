import { applyDecorators } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiForbiddenResponse,
  ApiHeader,
  ApiPayloadTooLargeResponse,
  ApiServiceUnavailableResponse,
  ApiTooManyRequestsResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import { ErrorResponseDto } from './error-response.dto';

/** The Origin header of a public, browser-facing endpoint, for OpenAPI. */
export function OriginHeader(): MethodDecorator {
  return ApiHeader({
    name: 'Origin',
    required: false,
    description: 'Checked against CORS_ORIGINS; absent for server-to-server calls',
  });
}

/** The error responses every public, browser-facing POST can give, for OpenAPI. */
export function PublicEndpointErrors(): MethodDecorator {
  return applyDecorators(
    ApiBadRequestResponse({
      type: ErrorResponseDto,
      description:
        'Validation failed (every failing field is listed), or a body that is not JSON or not UTF-8 (malformed_body)',
    }),
    ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Origin not allowed' }),
    ApiPayloadTooLargeResponse({
      type: ErrorResponseDto,
      description: 'Body over TRACK_MAX_BODY_BYTES',
    }),
    ApiUnsupportedMediaTypeResponse({
      type: ErrorResponseDto,
      description:
        'Neither application/json nor text/plain, or a compressed body (Content-Encoding)',
    }),
    ApiTooManyRequestsResponse({
      type: ErrorResponseDto,
      description: 'Rate limit per client IP; see Retry-After',
    }),
    ApiServiceUnavailableResponse({
      type: ErrorResponseDto,
      description:
        'Database unavailable; nothing half-written (a write sent before it stopped answering may still commit whole: resend with the same event_id); see Retry-After',
    }),
  );
}
