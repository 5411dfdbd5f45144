import { UnsupportedMediaTypeException } from '@nestjs/common';
import { MalformedBodyError } from './domain-error';
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Deeper values are cut before any code walks them (recursive walks overflow the stack).
 * No field accepts JSON nested anywhere near this deep (`properties` stops at 5), so a
 * cut value still fails its own field's validation, with that field named, and in a
 * batch only its own event fails.
 */
export const MAX_JSON_DEPTH = 32;

type Done = (error: Error | null, value?: unknown) => void;

/** Content-Encoding values that leave the body as it is (an empty list of codings too). */
const NO_CODING = new Set(['', 'identity']);

/** Fastify's own JSON parser over the body read as UTF-8 (and only UTF-8), then the depth cut. */
export function depthLimitedJsonParser(fastify: FastifyInstance) {
  // `__proto__` and `constructor.prototype` keys stay plain own keys (JSON.parse never sets a
  // prototype): the validation pipe refuses them naming where they are, and a batch's
  // event holding one fails alone. Nothing merges a body into another object before that.
  const parse = fastify.getDefaultJsonParser('ignore', 'ignore') as (
    request: FastifyRequest,
    body: string | Buffer,
    done: Done,
  ) => void;
  return (request: FastifyRequest, body: Buffer, done: Done): void => {
    // A compressed body would be read as text and fail as "not JSON": say what is wrong (RFC 9110 §15.5.16).
    const coding = request.headers['content-encoding'];
    if (coding !== undefined && !NO_CODING.has(coding.trim().toLowerCase())) {
      return done(
        new UnsupportedMediaTypeException(
          `Content-Encoding ${coding} is not supported; send the body uncompressed`,
        ),
      );
    }
    // JSON is UTF-8 (RFC 8259 §8.1), whatever charset a client's library labels it with (§11:
    // the parameter has no effect), and a page's sendBeacon sends UTF-8. Read leniently,
    // bytes that are not UTF-8 would be stored as U+FFFD: the text would be lost.
    if (!isUtf8(body)) return done(new MalformedBodyError('The body is not valid UTF-8'));
    parse(request, body.toString('utf8'), (error, value) => {
      if (error) return done(withNeutralWording(error));
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

/** Fastify's wording for application/json, made neutral for text/plain bodies too. */
function withNeutralWording(error: Error): Error {
  const message = NEUTRAL_MESSAGES[(error as { code?: string }).code ?? ''];
  return message === undefined ? error : Object.assign(error, { message });
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
