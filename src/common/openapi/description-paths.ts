import type { OpenAPIObject, OperationObject } from '@nestjs/swagger';

export const DESCRIPTION_TAG = 'documentation';

/**
 * The document's own addresses and Swagger UI's: served by Fastify beside Nest's routes,
 * so Nest's generator never sees them, yet client generators and API catalogs list the
 * endpoints from this document alone.
 */
export function addDescriptionPaths(document: OpenAPIObject): void {
  document.paths['/openapi.json'] = {
    get: described(
      'getOpenApiDocument',
      'This OpenAPI 3.0 document, as JSON.',
      'application/json',
      {
        type: 'object',
        additionalProperties: true,
      },
    ),
  };
  document.paths['/openapi.yaml'] = {
    get: described('getOpenApiYaml', 'This OpenAPI 3.0 document, as YAML.', 'text/yaml', {
      type: 'string',
    }),
  };
  document.paths['/docs'] = {
    get: described('getApiDocs', 'Swagger UI over this document.', 'text/html', {
      type: 'string',
    }),
  };
}

function described(
  operationId: string,
  summary: string,
  mediaType: string,
  schema: { type: 'object' | 'string'; additionalProperties?: boolean },
): OperationObject {
  return {
    operationId,
    summary,
    tags: [DESCRIPTION_TAG],
    parameters: [],
    responses: { 200: { description: summary, content: { [mediaType]: { schema } } } },
  };
}
