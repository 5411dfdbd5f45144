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
  return applyDecorators(
    IsOptional(),
    Transform(({ value }: { value: unknown }) =>
      typeof value === 'string' && DECIMAL_DIGITS.test(value) ? Number(value) : value,
    ),
    IsInt(),
    Min(min),
    Max(max),
  );
}
