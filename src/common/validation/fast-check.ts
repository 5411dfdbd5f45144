import type { AppConfig } from '../../config/app-config';

/**
 * A DTO's fast check: true only for a body that class-validator would certainly accept
 * and that class-transformer would copy as it is, so the validation pipe may build the
 * DTO directly. Anything else, false: the full validation then runs and words the errors.
 * A property test holds each check to that (never true where class-validator refuses).
 */
export type FastCheck = (body: Record<string, unknown>, config: AppConfig) => boolean;

const checks = new Map<abstract new () => object, FastCheck>();

export function registerFastCheck(dto: abstract new () => object, check: FastCheck): void {
  checks.set(dto, check);
}

export function fastCheckFor(dto: unknown): FastCheck | undefined {
  return checks.get(dto as abstract new () => object);
}

/**
 * Text that class-validator's length rules measure exactly as `.length` does and that
 * is storable: no control characters, no surrogates (paired or not), no variation
 * selectors (validator.js does not count them). Other text takes the full validation.
 */
const SIMPLE_TEXT = /^[^\x00-\x1f\x7f-\x9f\ud800-\udfff\ufe0e\ufe0f]*$/;

export function isSimpleText(value: unknown, min: number, max: number): value is string {
  return (
    typeof value === 'string' &&
    value.length >= min &&
    value.length <= max &&
    SIMPLE_TEXT.test(value)
  );
}
