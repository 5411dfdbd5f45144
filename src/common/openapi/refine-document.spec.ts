import { describe, expect, it } from 'vitest';
import { refineOpenApiDocument } from './refine-document';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullableObject = (name: string) => ({ type: 'object', nullable: true, allOf: [ref(name)] });

describe('refineOpenApiDocument', () => {
  it('gives every nullable object, nested in a copy too, a nullable copy to refer to', () => {
    const document = refineOpenApiDocument({
      openapi: '3.0.0',
      info: { title: 't', version: '1' },
      paths: {},
      components: {
        schemas: {
          A: { type: 'object', properties: { b: nullableObject('B') } },
          B: { type: 'object', properties: { c: nullableObject('C') } },
          C: { type: 'object', properties: { x: { type: 'string' } } },
        },
      },
    });
    const schemas = document.components!.schemas as Record<string, Record<string, unknown>>;
    expect(Object.keys(schemas).sort()).toEqual(['A', 'NullableB', 'NullableC']);
    expect(schemas.NullableB.nullable).toBe(true);
    expect(JSON.stringify(schemas.A)).toContain('"#/components/schemas/NullableB"');
    expect(JSON.stringify(schemas.NullableB)).toContain('"#/components/schemas/NullableC"');
  });
});
