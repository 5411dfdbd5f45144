import { ApiProperty } from '@nestjs/swagger';
import { ErrorCode } from './domain-error';

export class FieldErrorDto {
  /**
   * The request field that failed, as a dotted path.
   * @example "event_type"
   */
  field!: string;
  /**
   * Why it failed.
   * @example "event_type must start with a letter and contain only letters, digits and _"
   */
  message!: string;
}

export class ErrorBodyDto {
  /**
   * Stable, machine-readable error code.
   * @example "validation_failed"
   */
  code!: ErrorCode;
  /**
   * Human-readable explanation.
   * @example "Request validation failed: event_type"
   */
  message!: string;
  /** One entry per failing field, for validation errors. */
  details!: FieldErrorDto[];
}

/** The one error envelope every endpoint uses. */
export class ErrorResponseDto {
  /** Always false for errors. */
  @ApiProperty({ enum: [false] })
  success!: false;
  error!: ErrorBodyDto;
  /**
   * Echoed in the X-Request-Id header; quote it when reporting a problem.
   * @example "3f2b8c1e-6a4d-4f0e-9b7a-2c5d8e1f0a93"
   */
  request_id!: string;
}
