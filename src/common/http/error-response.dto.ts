import { ApiProperty } from '@nestjs/swagger';
import { ErrorCode } from './domain-error';

export class FieldErrorDto {
  /** The request field that failed, as a dotted path. */
  field!: string;
  /** Why it failed. */
  message!: string;
}

export class ErrorBodyDto {
  /** Stable, machine-readable error code. */
  code!: ErrorCode;
  /** Human-readable explanation. */
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
  /** Echoed in the X-Request-Id header; quote it when reporting a problem. */
  request_id!: string;
}
