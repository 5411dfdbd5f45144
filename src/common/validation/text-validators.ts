import { ValidationOptions, registerDecorator } from 'class-validator';
import { HTTP_URL_PATTERN } from './patterns';

/**
 * PostgreSQL refuses `\u0000` in text and jsonb, and a lone UTF-16 surrogate cannot be
 * stored as UTF-8 without changing it; both are client mistakes and get a 400.
 */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

export function IsStorableText(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isStorableText',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: '$property must not contain \\u0000 or unpaired surrogates', ...options },
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || isStorableText(value),
      },
    });
}

/**
 * An absolute http(s) URL, as the WHATWG URL parser (the one browsers use) reads it,
 * written out with its `//`: the parser would read `https:/host` or ` https://host` as
 * `https://host`, but the documented pattern does not match them.
 */
export function IsHttpUrl(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isHttpUrl',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: '$property must be an absolute http(s) URL', ...options },
      validator: { validate: isHttpUrl },
    });
}

const WRITTEN_HTTP_URL = new RegExp(HTTP_URL_PATTERN);

export function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string' || !WRITTEN_HTTP_URL.test(value)) return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
