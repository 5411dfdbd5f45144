import { BadRequestException } from '@nestjs/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Deeper bodies are refused before any code walks them (recursive walks overflow the stack). */
export const MAX_JSON_DEPTH = 32;

type Done = (error: Error | null, value?: unknown) => void;

/**
 * Fastify's own JSON parser (prototype-poisoning checks included), then a depth check
 * done with an explicit stack, so no nesting can exhaust the call stack.
 */
export function depthLimitedJsonParser(fastify: FastifyInstance) {
  const parse = fastify.getDefaultJsonParser('error', 'error') as (
    request: FastifyRequest,
    body: string | Buffer,
    done: Done,
  ) => void;
  return (request: FastifyRequest, body: string | Buffer, done: Done): void =>
    parse(request, body, (error, value) => {
      if (error) return done(withNeutralWording(error));
      if (nestedDeeperThan(value, MAX_JSON_DEPTH)) {
        return done(new BadRequestException(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`));
      }
      done(null, value);
    });
}

// Fastify words these for application/json; text/plain bodies (sendBeacon) are parsed the same way.
const NEUTRAL_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'The body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'The body is empty; a JSON object is expected',
};

function withNeutralWording(error: Error): Error {
  const message = NEUTRAL_MESSAGES[(error as { code?: string }).code ?? ''];
  return message === undefined ? error : Object.assign(error, { message });
}

export function nestedDeeperThan(value: unknown, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth >= maxDepth) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}
