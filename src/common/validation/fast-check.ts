import type { AppConfig } from '../../config/app-config';

/**
 * A DTO's fast check: true only for a body that class-validator would certainly accept
 * and that class-transformer would copy as it is, so the validation pipe may build the
 * DTO directly. Anything else, false: the full validation then runs and words the errors.
 * A property test holds each check to that (never true where class-validator refuses).
 */
export type FastCheck = (body: Record<string, unknown>, config: AppConfig) => boolean;

const checks = new Map<abstract new () => object, FastCheck>();
/** A batch DTO's list field, whose items the service validates one by one (a bad one fails alone). */
const itemFields = new Map<abstract new () => object, string>();

export function registerFastCheck(
  dto: abstract new () => object,
  check: FastCheck,
  options: { itemsValidatedByService?: string } = {},
): void {
  checks.set(dto, check);
  if (options.itemsValidatedByService !== undefined)
    itemFields.set(dto, options.itemsValidatedByService);
}

/**
 * The DTO built from `body` as the full validation would build it, when the DTO's fast
 * check vouches for the body; otherwise undefined, and the full validation must run.
 */
export function fastTransform<T extends object>(
  dto: new () => T,
  body: Record<string, unknown>,
  config: AppConfig,
): T | undefined {
  const check = checks.get(dto);
  if (
    check === undefined ||
    !check(body, config) ||
    strippedKeyPath(body, itemFields.get(dto)) !== undefined
  )
    return undefined;
  return Object.assign(new dto(), body);
}

/**
 * Nest's ValidationPipe deletes these keys at any depth before class-transformer runs
 * (which throws on some of them): the pipe refuses a body holding one (see
 * ApiValidationPipe), since storing it without them would answer 200 for other data.
 */
export const STRIPPED_KEYS = ['__proto__', 'prototype', 'constructor'];

/**
 * Where in `value` the first of STRIPPED_KEYS sits (`properties.constructor`), if anywhere,
 * not looking inside the top-level field `skip`. It walks every body: the path is only
 * built on the way back from a find.
 */
export function strippedKeyPath(value: unknown, skip?: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  for (const key of STRIPPED_KEYS) if (Object.hasOwn(value, key)) return key;
  for (const key in value) {
    if (key === skip) continue;
    const found = strippedKeyPath((value as Record<string, unknown>)[key]);
    if (found !== undefined) return `${key}.${found}`;
  }
  return undefined;
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
