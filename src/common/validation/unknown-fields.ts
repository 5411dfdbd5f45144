import { getMetadataStorage } from 'class-validator';
import { FieldError, ValidationFailedError } from '../http/domain-error';

/** More fields than any request DTO has, by far. */
const MAX_FIELDS = 64;
/** Unknown fields named one by one; the rest are counted. */
const NAMED_UNKNOWN_FIELDS = 20;

const fieldsByDto = new Map<abstract new () => object, Set<string>>();

/**
 * A body with more fields than any DTO has is refused before class-transformer and
 * class-validator see it: their work grows faster than the number of keys (a 64 KB body
 * of 8,000 unknown keys held the event loop ~60 ms and was answered with 500 KB naming
 * each one). The first unknown fields are named as class-validator names them, the rest
 * counted.
 */
export function tooManyFieldsError(
  dto: abstract new () => object,
  value: object,
): ValidationFailedError | undefined {
  const keys = Object.keys(value);
  if (keys.length <= MAX_FIELDS) return undefined;
  const known = fieldsOf(dto);
  const unknown = keys.filter((key) => !known.has(key));
  const details: FieldError[] = unknown
    .slice(0, NAMED_UNKNOWN_FIELDS)
    .map((field) => ({ field, message: `property ${field} should not exist` }));
  const more = unknown.length - details.length;
  if (more > 0)
    details.push({
      field: 'body',
      message: `has ${more} more unknown field${more === 1 ? '' : 's'}`,
    });
  return new ValidationFailedError(details);
}

function fieldsOf(dto: abstract new () => object): Set<string> {
  let fields = fieldsByDto.get(dto);
  if (fields === undefined) {
    const rules = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false);
    fields = new Set(rules.map((rule) => rule.propertyName));
    fieldsByDto.set(dto, fields);
  }
  return fields;
}
