import { ArgumentMetadata, Injectable, ValidationPipe } from '@nestjs/common';
import { ValidationFailedError } from '../http/domain-error';
import { VALIDATOR_OPTIONS, validationFailed } from './validation-errors';

/**
 * The global pipe: DTO validation with every failing field named, unknown fields
 * refused, and a body that is not a JSON object (an array, a string, null) refused
 * as a whole rather than field by field.
 */
@Injectable()
export class ApiValidationPipe extends ValidationPipe {
  constructor() {
    super({ ...VALIDATOR_OPTIONS, transform: true, exceptionFactory: validationFailed });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (
      metadata.type === 'body' &&
      (typeof value !== 'object' || value === null || Array.isArray(value))
    ) {
      throw new ValidationFailedError([{ field: 'body', message: 'must be a JSON object' }]);
    }
    return super.transform(value, metadata);
  }
}
