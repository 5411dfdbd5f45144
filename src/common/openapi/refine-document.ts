import type {
  OpenAPIObject,
  OperationObject,
  ReferenceObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger';
import { documentExamples } from './examples';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;
const ERROR_RESPONSE = { $ref: '#/components/schemas/ErrorResponseDto' };
/** A response header's documentation: what it holds, and its JSON type. */
const header = (description: string, type: 'string' | 'integer' = 'string') => ({
  description,
  schema: { type },
});
const RETRY_AFTER = { ...header('Seconds to wait before trying again', 'integer'), required: true };
// Request bodies the service refuses unknown fields in (a typo must not lose data).
const CLOSED_REQUEST_SCHEMAS = ['TrackEventDto', 'TrackBatchDto', 'UpdateFunnelStageDto'];

/**
 * What Nest's generator leaves out or words loosely, set right for client generators
 * and stock OpenAPI 3.0 validators. Each step is a plain rewrite of the document.
 */
export function refineOpenApiDocument(document: OpenAPIObject): OpenAPIObject {
  for (const [method, operation] of operations(document)) {
    // An operation without a key says so explicitly (`security: []`): public, not forgotten.
    operation.security ??= [];
    splitSummary(operation);
    if (method === 'options') keepPreflightResponses(operation);
    else documentCommonResponses(operation);
    documentHeaders(operation, method);
    if (method !== 'options') documentExamples(operation);
    acceptTextPlainBodies(operation);
  }
  for (const name of CLOSED_REQUEST_SCHEMAS) {
    const schema = document.components?.schemas?.[name] as SchemaObject | undefined;
    if (schema) {
      schema.additionalProperties = false;
      optionalMeansNullable(schema);
    }
  }
  nullablesForValidators(document);
  return document;
}

function* operations(document: OpenAPIObject): Generator<[string, OperationObject]> {
  for (const path of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = path[method];
      if (operation) yield [method, operation];
    }
  }
}

/** class-validator's `@IsOptional` lets `null` through as it does an absent field: say so. */
function optionalMeansNullable(schema: SchemaObject): void {
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (!schema.required?.includes(name) && !('$ref' in property)) property.nullable = true;
  }
}

/** The Swagger plugin puts a handler's whole doc comment in `summary`: its first paragraph is the summary. */
function splitSummary(operation: OperationObject): void {
  const [summary, ...rest] = (operation.summary ?? '').split(/\n\s*\n/);
  if (rest.length > 0 && operation.description === undefined) {
    operation.summary = summary.trim();
    operation.description = rest.join('\n\n').trim();
  }
}

/**
 * Any operation may meet an unexpected failure; 429 and 503 say when to come back, with
 * Retry-After on every such answer unless the handler documents it otherwise.
 */
function documentCommonResponses(operation: OperationObject): void {
  operation.responses['500'] ??= {
    description: 'Unexpected failure; nothing internal is shown, the request_id identifies it',
    content: { 'application/json': { schema: ERROR_RESPONSE } },
  };
  // What any route can answer besides its own list, in the same envelope: no such route
  // (404), another method (405), too slow (408), headers too large (431), an unreadable request (400).
  operation.responses.default ??= {
    description:
      'Any other error answer (404, 405, 408, 431, 400 `malformed_request`: see the API description), in the same envelope',
    content: { 'application/json': { schema: ERROR_RESPONSE } },
  };
  for (const status of ['429', '503']) {
    const response = operation.responses[status] as ResponseObject | undefined;
    if (response) response.headers = { 'Retry-After': RETRY_AFTER, ...response.headers };
  }
}

const REQUEST_ID = {
  ...header('The request id (yours if you sent a sane X-Request-Id), as in the error body'),
  required: true,
};
const CORS_HEADERS = {
  'Access-Control-Allow-Origin': header(
    'The request’s Origin, when it is in CORS_ORIGINS (never *)',
  ),
  'Access-Control-Allow-Credentials': {
    description: '`true`, with an allowed Origin',
    schema: { type: 'string', enum: ['true'] },
  },
  Vary: header('`Origin`: answers differ by origin'),
};
const POST_CORS_HEADERS = {
  ...CORS_HEADERS,
  'Access-Control-Expose-Headers': header(
    '`Retry-After, X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset`: what a page may read, with an allowed Origin',
  ),
};
const PREFLIGHT_HEADERS = {
  ...CORS_HEADERS,
  Vary: header(
    '`Origin, Access-Control-Request-Method, Access-Control-Request-Headers` with an Origin (the answer reflects them), `Origin` without one',
  ),
  'Access-Control-Allow-Methods': header('`POST, OPTIONS`'),
  'Access-Control-Allow-Headers': header(
    'Content-Type, Authorization, X-Request-Id, X-API-Key, Accept, Accept-Language, Content-Language, and any other header the preflight asks for (the Origin is what is checked)',
  ),
  'Access-Control-Max-Age': header('Seconds a browser may cache this preflight', 'integer'),
};

/** Set by the per-client rate limit on the public writes' answers (none with RATE_LIMIT_PER_MINUTE=0). */
const RATE_LIMIT_HEADERS = {
  'X-RateLimit-Limit': header(
    'Requests a client may make per minute (RATE_LIMIT_PER_MINUTE)',
    'integer',
  ),
  'X-RateLimit-Remaining': header('Requests left in the current minute', 'integer'),
  'X-RateLimit-Reset': header('Seconds until the current minute ends', 'integer'),
};

/**
 * What every answer carries (X-Request-Id), what a 401 says (WWW-Authenticate), and the
 * CORS and rate-limit headers of the public endpoints; a 2xx without words says what it is.
 */
function documentHeaders(operation: OperationObject, method: string): void {
  const cors =
    (method === 'post' || method === 'options') &&
    (operation.tags?.includes('tracking') || isPublicFunnel(operation));
  for (const [status, value] of Object.entries(operation.responses)) {
    // A copy: Nest shares one response object among the operations a decorator was put on.
    const response = { ...(value as ResponseObject) };
    operation.responses[status] = response;
    if (!response.description) response.description = status === '200' ? 'OK' : status;
    const headers: Record<string, unknown> = { 'X-Request-Id': REQUEST_ID };
    if (status === '401') headers['WWW-Authenticate'] = header('`Bearer realm="api"`');
    // A refused origin (403) gets no CORS header at all.
    if (cors && status !== '403')
      Object.assign(
        headers,
        method === 'options' ? PREFLIGHT_HEADERS : { ...POST_CORS_HEADERS, ...RATE_LIMIT_HEADERS },
      );
    response.headers = { ...headers, ...response.headers } as ResponseObject['headers'];
  }
}

/** The funnel tag also holds the (keyed) funnel report; the stage update is the public one. */
function isPublicFunnel(operation: OperationObject): boolean {
  return (operation.tags?.includes('funnel') ?? false) && (operation.security ?? []).length === 0;
}

/**
 * A preflight answers 200, or 403 for an origin not allowed, on the origin alone: it is
 * never rate-limited, reads no body and no database.
 */
const PREFLIGHT_STATUSES = new Set(['200', '403']);

function keepPreflightResponses(operation: OperationObject): void {
  for (const status of Object.keys(operation.responses)) {
    if (!PREFLIGHT_STATUSES.has(status)) delete operation.responses[status];
  }
}

/** navigator.sendBeacon sends JSON as text/plain; the service parses both the same way. */
function acceptTextPlainBodies(operation: OperationObject): void {
  const body = operation.requestBody as { content?: Record<string, unknown> } | undefined;
  const json = body?.content?.['application/json'];
  if (body?.content && json) body.content['text/plain'] = json;
}

/**
 * A nullable object is written as `nullable` beside `allOf: [$ref]`, the form client
 * generators read as "that object or null" (an `anyOf` with a null branch broke orval's
 * output). In OpenAPI 3.0 the referenced schema must then accept null too, or a stock
 * validator refuses every null: it refers to a nullable copy (`NullableX`). A nullable
 * enum gets `null` among its values, which OpenAPI 3.0 also requires.
 */
function nullablesForValidators(document: OpenAPIObject): void {
  const schemas = document.components?.schemas ?? {};
  // Again over the copies made, until none is: a copy may hold a nullable object of its own.
  for (let count = -1; count !== Object.keys(schemas).length;) {
    count = Object.keys(schemas).length;
    walk(schemas, (schema) => {
      const [only] = schema.allOf ?? [];
      if (schema.nullable !== true || schema.allOf?.length !== 1 || !only || !('$ref' in only))
        return;
      const target = schemas[only.$ref.split('/').at(-1)!] as SchemaObject | undefined;
      if (target?.nullable === true) return; // a nullable copy already
      schema.type = 'object';
      schema.allOf = [{ $ref: nullableCopy(schemas, only.$ref) }];
    });
  }
  walk(schemas, (schema) => {
    if (schema.nullable === true && schema.enum && !schema.enum.includes(null))
      schema.enum.push(null);
  });
  // A component only ever used as nullable is left as its copy alone.
  const text = JSON.stringify(document);
  for (const name of Object.keys(schemas)) {
    if (schemas[`Nullable${name}`] && !text.includes(`"#/components/schemas/${name}"`))
      delete schemas[name];
  }
}

/** Calls `visit` on every object under `node`, itself included. */
function walk(node: unknown, visit: (schema: SchemaObject) => void): void {
  if (Array.isArray(node)) return node.forEach((item) => walk(item, visit));
  if (node === null || typeof node !== 'object') return;
  visit(node);
  Object.values(node).forEach((child) => walk(child, visit));
}

/** The reference of a copy of the referenced component that also accepts null. */
function nullableCopy(
  schemas: Record<string, SchemaObject | ReferenceObject>,
  ref: string,
): string {
  const name = ref.split('/').at(-1)!;
  const copy = `Nullable${name}`;
  schemas[copy] ??= { ...structuredClone(schemas[name] as SchemaObject), nullable: true };
  return `#/components/schemas/${copy}`;
}
