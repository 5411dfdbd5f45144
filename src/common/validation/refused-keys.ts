import { FieldError } from '../http/domain-error';
import { STRIPPED_KEYS, strippedKeyPath } from './fast-check';

/** Refused keys named one by one; the rest are counted. */
const NAMED_REFUSED_KEYS = 20;
const STRIPPED_MESSAGE = `keys named ${STRIPPED_KEYS.join(', ')} are refused`;

export interface RefusedKeys {
  errors: FieldError[];
  /** The value without them, for the DTO's validation to list what else is wrong. */
  rest: object;
}

/**
 * The keys refused before a DTO's validation, with the value left without them:
 * STRIPPED_KEYS at any depth of a body (Nest would delete them, and answer 200 for other
 * data than was sent), and top-level keys named like a member of every object
 * (`toString`, `hasOwnProperty`…), which class-validator's whitelist can take for a
 * declared field. Undefined when there is none.
 */
export function withoutRefusedKeys(value: object, inBody: boolean): RefusedKeys | undefined {
  const paths: string[] = [];
  const rest =
    inBody && strippedKeyPath(value) !== undefined
      ? (copyWithoutStripped(value, '', paths) as object)
      : value;
  const inherited = Object.keys(rest).filter((name) => name in Object.prototype);
  if (paths.length === 0 && inherited.length === 0) return undefined;
  const errors: FieldError[] = [
    ...paths.map((field) => ({ field, message: STRIPPED_MESSAGE })),
    ...inherited.map((field) => ({ field, message: `property ${field} should not exist` })),
  ];
  const more = errors.length - NAMED_REFUSED_KEYS;
  const named = errors.slice(0, NAMED_REFUSED_KEYS);
  if (more > 0)
    named.push({ field: 'body', message: `has ${more} more refused key${more === 1 ? '' : 's'}` });
  return { errors: named, rest: omit(rest, inherited) };
}

/** A copy without STRIPPED_KEYS (nor what they hold), their paths added to `found`. */
function copyWithoutStripped(value: unknown, path: string, found: string[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const at = (key: string) => (path === '' ? key : `${path}.${key}`);
  if (Array.isArray(value))
    return value.map((item, index) => copyWithoutStripped(item, at(String(index)), found));
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (STRIPPED_KEYS.includes(key)) found.push(at(key));
    else copy[key] = copyWithoutStripped((value as Record<string, unknown>)[key], at(key), found);
  }
  return copy;
}

function omit(value: object, keys: string[]): object {
  if (keys.length === 0) return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !keys.includes(key)));
}
