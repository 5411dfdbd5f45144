import { ArgumentMetadata, Injectable, ValidationPipe } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { InjectConfig } from '../../config/config.module';
import { ValidationFailedError } from '../http/domain-error';
import { fastTransform } from './fast-check';
import { RefusedKeys, withoutRefusedKeys } from './refused-keys';
import { tooManyFieldsError } from './unknown-fields';
import { VALIDATOR_OPTIONS, validationFailed } from './validation-errors';

/**
 * The global pipe: DTO validation with every failing field named, unknown fields
 * refused, and a body that is not a JSON object (an array, a string, null) refused
 * as a whole rather than field by field. Keys Nest would strip or class-validator could
 * mistake for a field (see refused-keys.ts) are refused, each named beside whatever else
 * fails. A body that its DTO's fast check accepts (see fast-check.ts) becomes the DTO
 * without the full validation. A query parameter left empty is absent.
 */
@Injectable()
export class ApiValidationPipe extends ValidationPipe {
  constructor(@InjectConfig() private readonly config: AppConfig) {
    super({ ...VALIDATOR_OPTIONS, transform: true, exceptionFactory: validationFailed });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // `?utm_source=`: a form sends every field, the empty ones too.
    if (metadata.type === 'query' && typeof value === 'object' && value !== null) {
      value = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== ''));
      // `?=x` has no name to report it under: say what it is instead.
      if (Object.hasOwn(value as object, ''))
        throw new ValidationFailedError([
          { field: 'query', message: 'has a parameter without a name' },
        ]);
    }
    if (
      metadata.type === 'body' &&
      (typeof value !== 'object' || value === null || Array.isArray(value))
    ) {
      throw new ValidationFailedError([{ field: 'body', message: 'must be a JSON object' }]);
    }
    const dto = metadata.metatype as (new () => object) | undefined;
    if (metadata.type === 'body' && dto !== undefined) {
      const fast = fastTransform(dto, value as Record<string, unknown>, this.config);
      if (fast !== undefined) return fast;
    }
    const tooMany =
      metadata.type === 'body' && dto !== undefined
        ? tooManyFieldsError(dto, value as object)
        : undefined;
    if (tooMany !== undefined) throw tooMany;
    const refused =
      typeof value === 'object' && value !== null
        ? withoutRefusedKeys(value, metadata.type === 'body')
        : undefined;
    if (refused !== undefined) return this.refuseWithTheRest(refused, metadata);
    return super.transform(value, metadata);
  }

  /** Refused keys are listed with whatever else the DTO's validation finds wrong. */
  private async refuseWithTheRest(
    refused: RefusedKeys,
    metadata: ArgumentMetadata,
  ): Promise<never> {
    try {
      await super.transform(refused.rest, metadata);
    } catch (error) {
      if (error instanceof ValidationFailedError)
        throw new ValidationFailedError([...refused.errors, ...error.details]);
      throw error;
    }
    throw new ValidationFailedError(refused.errors);
  }
}
