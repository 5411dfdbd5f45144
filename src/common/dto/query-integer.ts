import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

const DECIMAL_DIGITS = /^(0|[1-9]\d{0,15})$/;

/**
 * An optional whole-number query parameter from `min` to `max`, written in plain decimal
 * digits: `1e1`, `+5`, `030` or `5.0` are refused rather than read as numbers (Number()
 * would take them all), so one value has one spelling.
 */
export function IsOptionalQueryInteger(min: number, max: number): PropertyDecorator {
  // One message for every way to miss: "abc" fails all three checks, and any one of their
  // own messages ("must not be greater than 90") would mislead.
  const message = `$property must be a whole number from ${min} to ${max}, in plain digits`;
  return applyDecorators(
    IsOptional(),
    Transform(({ value }: { value: unknown }) =>
      typeof value === 'string' && DECIMAL_DIGITS.test(value) ? Number(value) : value,
    ),
    IsInt({ message }),
    Min(min, { message }),
    Max(max, { message }),
  );
}
