import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ValidateFunction } from 'ajv';
import createClient, { Client, Middleware } from 'openapi-fetch';
import type { paths } from './api-schema';
import { openApiValidator } from './openapi-ajv';

const DOCUMENT = JSON.parse(readFileSync(join(__dirname, '..', '..', 'openapi.json'), 'utf8')) as {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>
  >;
  components: unknown;
};

/**
 * Every JSON response is checked against the schema openapi.json gives for its path,
 * method and status: a schema that lies about a response fails the test that got it.
 */
const ajv = openApiValidator(DOCUMENT);
const validators = new Map<string, ValidateFunction>();

function validatorFor(path: string, method: string, status: number): ValidateFunction | undefined {
  const key = `${method} ${path} ${status}`;
  if (!validators.has(key)) {
    const schema =
      DOCUMENT.paths[path]?.[method]?.responses[String(status)]?.content?.['application/json']
        ?.schema;
    if (schema === undefined) return undefined;
    validators.set(key, ajv.compile(schema));
  }
  return validators.get(key);
}

/** Which documented path a concrete URL path matches (`/v1/funnels/default` → `/v1/funnels/{funnel}`). */
function documentedPath(pathname: string): string | undefined {
  return Object.keys(DOCUMENT.paths).find((path) =>
    new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(pathname),
  );
}

const schemaCheck: Middleware = {
  async onResponse({ request, response }) {
    const pathname = new URL(request.url).pathname;
    const path = documentedPath(pathname);
    if (path === undefined) throw new Error(`${request.method} ${pathname} is not in openapi.json`);
    const method = request.method.toLowerCase();
    if (!response.headers.get('content-type')?.includes('application/json')) return undefined;
    const documented = DOCUMENT.paths[path][method]?.responses[String(response.status)];
    if (documented === undefined) {
      throw new Error(
        `${request.method} ${path} answered ${response.status}, which openapi.json does not list`,
      );
    }
    const validate = validatorFor(path, method, response.status);
    const body: unknown = await response.clone().json();
    if (validate && !validate(body)) {
      throw new Error(
        `${request.method} ${path} ${response.status} does not match openapi.json: ${ajv.errorsText(validate)}\n${JSON.stringify(body)}`,
      );
    }
    return undefined;
  },
};

const BROWSER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/**
 * The typed client generated from openapi.json (openapi-typescript + openapi-fetch),
 * talking to the app through Fastify's inject: real routing, hooks and serialisation,
 * no socket.
 */
export function apiClient(
  app: NestFastifyApplication,
  headers: Record<string, string> = {},
): Client<paths> {
  const fastify = app.getHttpAdapter().getInstance();
  const client = createClient<paths>({
    baseUrl: 'http://service.test',
    // inject's own agent ("lightMyRequest") reads as a bot; a page's tracker sends a browser's.
    headers: { 'User-Agent': BROWSER_AGENT, ...headers },
    fetch: async (request: Request) => {
      const url = new URL(request.url);
      const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
      const reply = await fastify.inject({
        method: request.method as 'GET',
        url: url.pathname + url.search,
        headers: Object.fromEntries(request.headers),
        payload: body,
      });
      const status = reply.statusCode;
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(reply.headers)) {
        if (value !== undefined) responseHeaders.set(name, String(value));
      }
      return new Response(
        status === 204 || status === 304 ? null : new Uint8Array(reply.rawPayload),
        {
          status,
          headers: responseHeaders,
        },
      );
    },
  });
  client.use(schemaCheck);
  return client;
}
