import { UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Deeper values are cut before any code walks them (recursive walks overflow the stack).
 * No field accepts JSON nested anywhere near this deep (`properties` stops at 5), so a
 * cut value still fails its own field's validation, with that field named, and in a
 * batch only its own event fails.
 */
export const MAX_JSON_DEPTH = 32;

type Done = (error: Error | null, value?: unknown) => void;

/**
 * Fastify's own JSON parser (prototype-poisoning checks included), then the depth cut.
 */
export function depthLimitedJsonParser(fastify: FastifyInstance) {
  const parse = fastify.getDefaultJsonParser('error', 'error') as (
    request: FastifyRequest,
    body: string | Buffer,
    done: Done,
  ) => void;
  return (request: FastifyRequest, body: string | Buffer, done: Done): void => {
    // A compressed body would be read as text and fail as "not JSON": say what is wrong (RFC 9110 §15.5.16).
    const coding = request.headers['content-encoding'];
    if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
      return done(
        new UnsupportedMediaTypeException(
          `Content-Encoding ${coding} is not supported; send the body uncompressed`,
        ),
      );
    }
    parse(request, body, (error, value) => {
      if (error) return done(withNeutralWording(error, body));
      cutDeeperThan(value, MAX_JSON_DEPTH);
      done(null, value);
    });
  };
}

// Fastify words these for application/json; text/plain bodies (sendBeacon) are parsed the same way.
const NEUTRAL_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'The body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'The body is empty; a JSON object is expected',
};

const FORBIDDEN_KEY_MESSAGE =
  'The body has a __proto__ or constructor.prototype key, which is refused';

/**
 * Fastify gives one error for invalid JSON and for JSON refused for a prototype-poisoning
 * key; on that (error) path only, parsing again tells the client which it was.
 */
function withNeutralWording(error: Error, body: string | Buffer): Error {
  const code = (error as { code?: string }).code ?? '';
  let message = NEUTRAL_MESSAGES[code];
  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' && isJson(body)) message = FORBIDDEN_KEY_MESSAGE;
  return message === undefined ? error : Object.assign(error, { message });
}

function isJson(body: string | Buffer): boolean {
  try {
    JSON.parse(body.toString());
    return true;
  } catch {
    return false;
  }
}

/**
 * Replaces, in place, every object or array nested `maxDepth` levels below the root with
 * an empty object, walking with an explicit stack so that no nesting exhausts the call
 * stack. An empty object at that depth is itself too deep for any field.
 */
export function cutDeeperThan(value: unknown, maxDepth: number): void {
  const stack: [Record<string, unknown>, number][] = [];
  if (isContainer(value)) stack.push([value, 0]);
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    for (const key of Object.keys(current)) {
      const child = current[key];
      if (!isContainer(child)) continue;
      if (depth + 1 >= maxDepth) current[key] = {};
      else stack.push([child, depth + 1]);
    }
  }
}

function isContainer(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object';
}
