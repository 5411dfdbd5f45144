import { ValidationError, ValidatorOptions } from 'class-validator';
import { FieldError, ValidationFailedError } from '../http/domain-error';

/** Unknown fields are refused rather than silently dropped: a typo must not lose data. */
export const VALIDATOR_OPTIONS: ValidatorOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  validationError: { target: false, value: false },
};

/** class-validator's tree of errors, flattened to one entry per failing field. */
export function toFieldErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = [parent, error.property].filter(Boolean).join('.') || 'body';
    // Decorators register bottom-up, so the last message is the top-most rule a field
    // breaks (type before format): report that one, the most fundamental. A missing
    // field says so (class-validator files IsDefined apart from the others).
    const { isDefined, ...rest } = error.constraints ?? {};
    const messages = Object.values(rest);
    const message = isDefined ?? messages[messages.length - 1];
    const own = message === undefined ? [] : [{ field, message }];
    return [...own, ...toFieldErrors(error.children ?? [], field)];
  });
}

export function validationFailed(errors: ValidationError[]): ValidationFailedError {
  return new ValidationFailedError(toFieldErrors(errors));
}
