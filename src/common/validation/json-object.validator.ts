import { ValidationArguments, ValidationOptions, registerDecorator } from 'class-validator';
import { isStorableText } from './text-validators';

export interface JsonObjectLimits {
  maxBytes: number;
  maxDepth: number;
}

/** Why a value is not a storable JSON object within the limits, or undefined when it is. */
export function jsonObjectProblem(value: unknown, limits: JsonObjectLimits): string | undefined {
  if (!isPlainObject(value)) return 'must be a JSON object';
  const problem = findProblem(value, 1, limits.maxDepth);
  if (problem) return problem;
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > limits.maxBytes)
    return `must be at most ${limits.maxBytes} bytes serialized (got ${bytes})`;
  return undefined;
}

function findProblem(value: unknown, depth: number, maxDepth: number): string | undefined {
  if (typeof value === 'string')
    return isStorableText(value) ? undefined : 'must not contain \\u0000 or unpaired surrogates';
  if (typeof value === 'number')
    return Number.isFinite(value) ? undefined : 'must contain only finite numbers';
  if (value === null || typeof value === 'boolean') return undefined;
  if (depth > maxDepth) return `must be nested at most ${maxDepth} levels deep`;
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = findProblem(item, depth + 1, maxDepth);
      if (problem) return problem;
    }
    return undefined;
  }
  if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (!isStorableText(key)) return 'must not have keys with \\u0000 or unpaired surrogates';
      const problem = findProblem(item, depth + 1, maxDepth);
      if (problem) return problem;
    }
    return undefined;
  }
  return 'must contain only JSON values';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function IsJsonObject(
  limits: JsonObjectLimits,
  options?: ValidationOptions,
): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isJsonObject',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        message: (args: ValidationArguments) =>
          `${args.property} ${jsonObjectProblem(args.value, limits) ?? 'is invalid'}`,
        ...options,
      },
      validator: { validate: (value: unknown) => jsonObjectProblem(value, limits) === undefined },
    });
}
