import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * Ajv reading an OpenAPI 3.0 document as a stock validator would (it knows `nullable`,
 * and nothing else is adapted). The formats the document uses (date, date-time, uuid) are
 * checked, not just named.
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
  return JSON.parse(
    JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'),
  ) as unknown;
}
