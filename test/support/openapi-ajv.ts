import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * Ajv reading an OpenAPI 3.0 document as a stock validator would (it knows `nullable`),
 * and as client generators read `nullable` beside a single `allOf: [$ref]`: that object
 * or null. The formats the document uses (date, date-time, uuid) are checked, not just named.
 */
export function openApiValidator(document: { components?: unknown }) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openapi', components: forAjv(document.components) });
  return {
    compile: (schema: unknown): ValidateFunction => ajv.compile(forAjv(schema) as object),
    errorsText: (validate: ValidateFunction) => ajv.errorsText(validate.errors),
  };
}

function forAjv(schema: unknown): unknown {
  const text = JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/');
  return JSON.parse(text, (_key, value: unknown) => {
    const node = value as { nullable?: boolean; allOf?: unknown[]; type?: string };
    if (node?.nullable !== true || node.allOf?.length !== 1) return value;
    const { allOf, nullable: _nullable, type: _type, ...rest } = node;
    return { ...rest, anyOf: [allOf[0], { type: 'null' }] };
  });
}
