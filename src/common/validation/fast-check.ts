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
  if (check === undefined || !check(body, config) || hasStrippedKey(body)) return undefined;
  return Object.assign(new dto(), body);
}

/**
 * Nest's ValidationPipe deletes these keys at any depth before class-transformer runs
 * (which throws on some of them), so a body holding one must take that path to keep its
 * answer and stored properties unchanged.
 */
const STRIPPED_KEYS = ['__proto__', 'prototype', 'constructor'];

function hasStrippedKey(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(hasStrippedKey);
  for (const key of STRIPPED_KEYS) if (Object.hasOwn(value, key)) return true;
  for (const key in value) if (hasStrippedKey((value as Record<string, unknown>)[key])) return true;
  return false;
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
