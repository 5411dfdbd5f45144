import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { statusForCode } from '../src/common/http/error-mapping';
import { PUBLIC_PATHS } from '../src/common/http/public-endpoint';
import { openApiValidator } from './support/openapi-ajv';

interface MediaType {
  schema: unknown;
  examples?: Record<string, { value: unknown }>;
}
interface Response {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<string, MediaType>;
}
interface Operation {
  operationId: string;
  security: unknown[];
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, MediaType> };
  responses: Record<string, Response>;
}

const document = JSON.parse(readFileSync(join(__dirname, '..', 'openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, Operation>>;
  tags: { name: string; description: string }[];
  components: unknown;
};
const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
);
const VERBS = /^(get|list|track|update|reconcile|preflight)[A-Z]/;

/** The query and path parameters of an operation, and the top-level fields of its JSON body. */
function inputsOf(operation: Operation): string[] {
  const ref = (operation.requestBody?.content['application/json']?.schema as { $ref?: string })
    ?.$ref;
  const schemas = (document.components as { schemas: Record<string, { properties?: object }> })
    .schemas;
  const body = ref ? Object.keys(schemas[ref.split('/').pop()!].properties ?? {}) : [];
  return [...(operation.parameters ?? []).map((parameter) => parameter.name), ...body];
}

/** What client generators read from the committed document, checked where the code cannot say it. */
describe('openapi.json', () => {
  it('names every operation uniquely, verb first', () => {
    const ids = operations.map(({ operation }) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(VERBS);
  });

  it('describes every answer, with the X-Request-Id it carries', () => {
    for (const { path, method, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        expect(response.description, `${method} ${path} ${status}`).not.toBe('');
        expect(response.headers?.['X-Request-Id'], `${method} ${path} ${status}`).toMatchObject({
          required: true,
        });
        // An allowed origin's answer lets the page read Retry-After and the request id.
        if (method === 'post' && response.headers?.['Access-Control-Allow-Origin'])
          expect(Object.keys(response.headers)).toContain('Access-Control-Expose-Headers');
        if (status === '401')
          expect(Object.keys(response.headers ?? {})).toContain('WWW-Authenticate');
      }
    }
  });

  it('requires Retry-After on every 429 and on every 503 but the one GA4 not being set up also answers', () => {
    const retryable = operations.flatMap(({ path, method, operation }) =>
      ['429', '503']
        .filter((status) => status in operation.responses)
        .map((status) => ({ at: `${method} ${path} ${status}`, ...operation.responses[status] })),
    );
    expect(retryable.length).toBeGreaterThan(10);
    for (const { at, headers } of retryable) {
      const retryAfter = headers?.['Retry-After'] as { required?: boolean } | undefined;
      expect(retryAfter, at).toBeDefined();
      expect(retryAfter?.required, at).toBe(at !== 'get /v1/events/reconcile 503');
    }
  });

  it('gives preflights their CORS headers, and a refused origin none', () => {
    const preflights = operations.filter(({ method }) => method === 'options');
    expect(preflights.length).toBeGreaterThan(0);
    for (const { operation } of preflights) {
      expect(Object.keys(operation.responses['200'].headers ?? {})).toEqual(
        expect.arrayContaining([
          'Access-Control-Allow-Origin',
          'Access-Control-Allow-Credentials',
          'Access-Control-Allow-Methods',
          'Access-Control-Allow-Headers',
          'Access-Control-Max-Age',
          'Vary',
        ]),
      );
      expect(Object.keys(operation.responses['403'].headers ?? {})).toEqual(['X-Request-Id']);
    }
    // The placeholder that answers while the database is away knows them by this list.
    expect(new Set(preflights.map(({ path }) => path))).toEqual(PUBLIC_PATHS);
  });

  it('says how the tracker script is revalidated: If-None-Match in, ETag and Cache-Control out', () => {
    const tracker = document.paths['/v1/tracker.js'].get;
    expect(tracker.parameters).toContainEqual(
      expect.objectContaining({ name: 'If-None-Match', in: 'header' }),
    );
    for (const status of ['200', '304'])
      expect(Object.keys(tracker.responses[status].headers ?? {})).toEqual(
        expect.arrayContaining(['ETag', 'Cache-Control']),
      );
  });

  it('writes a nullable object as nullable beside allOf [$ref], the form generators read as "or null"', () => {
    // An anyOf with a {type: object, enum: [null]} branch made orval emit invalid TypeScript.
    const nullableObjects: unknown[] = [];
    JSON.stringify(document, (_key, value: unknown) => {
      const node = value as {
        nullable?: unknown;
        type?: unknown;
        allOf?: unknown;
        anyOf?: unknown;
      };
      const refers = node?.allOf !== undefined || node?.anyOf !== undefined;
      if (node?.nullable === true && node.type === 'object' && refers) nullableObjects.push(node);
      return value;
    });
    expect(nullableObjects.length).toBeGreaterThanOrEqual(4);
    for (const schema of nullableObjects) {
      expect(schema).toEqual(
        expect.objectContaining({ allOf: [{ $ref: expect.stringMatching(/^#\/components\//) }] }),
      );
      expect(schema).not.toHaveProperty('anyOf');
    }
  });

  it('lists every tag it uses, with a description', () => {
    const used = new Set(
      operations.flatMap(({ operation }) => (operation as { tags?: string[] }).tags ?? []),
    );
    expect(document.tags.map((tag) => tag.name).sort()).toEqual([...used].sort());
    for (const tag of document.tags) expect(tag.description).not.toBe('');
  });

  it('gives every request body and error answer whole examples that its schema accepts', () => {
    const ajv = openApiValidator(document);
    const validate = (schema: unknown) => ajv.compile(schema);
    let checked = 0;
    for (const { path, method, operation } of operations) {
      if (method === 'options') continue;
      const bodies = Object.values(operation.requestBody?.content ?? {});
      const errors = Object.entries(operation.responses)
        .filter(([status]) => Number(status) >= 400)
        .map(([status, response]) => ({ status, media: response.content?.['application/json'] }));
      for (const { status, media } of errors) {
        const examples = Object.values(media?.examples ?? {});
        expect(examples.length, `${method} ${path} ${status}`).toBeGreaterThan(0);
        for (const { value } of examples) {
          const { code, details } = (
            value as {
              error: { code: Parameters<typeof statusForCode>[0]; details: { field: string }[] };
            }
          ).error;
          expect(statusForCode(code), `${method} ${path} ${status} ${code}`).toBe(Number(status));
          // A field an example blames is one this operation takes.
          if (code === 'validation_failed')
            for (const { field } of details)
              expect(inputsOf(operation), `${method} ${path} ${field}`).toContain(field);
        }
      }
      for (const media of [...bodies, ...errors.map(({ media }) => media!)]) {
        expect(Object.keys(media.examples ?? {}).length, `${method} ${path}`).toBeGreaterThan(0);
        const isValid = validate(media.schema);
        for (const [name, { value }] of Object.entries(media.examples ?? {})) {
          expect(isValid(value), `${method} ${path} ${name}: ${ajv.errorsText(isValid)}`).toBe(
            true,
          );
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
  });
});
