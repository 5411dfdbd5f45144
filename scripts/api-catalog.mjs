// `npm run catalog`: writes docs/api-catalog.md from openapi.json in the seed catalog's
// format (title, endpoint count, one section per endpoint with summary, description,
// parameters, request body and success response). `--check` fails when the file is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const target = `${root}docs/api-catalog.md`;
const document = JSON.parse(readFileSync(`${root}openapi.json`, 'utf8'));
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'options', 'head'];

const endpoints = Object.entries(document.paths)
  .sort(([a], [b]) => a.localeCompare(b))
  .flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map((method) => ({ path, method, operation: item[method] })),
  );

const schemaName = (schema) => schema?.$ref?.split('/').pop() ?? schema?.items?.$ref?.split('/').pop();

function section({ path, method, operation }) {
  const lines = [`### \`${method.toUpperCase()} ${path}\``, '', `**Summary:** ${operation.summary ?? operation.operationId}`, ''];
  if (operation.description) lines.push(operation.description, '');
  const auth = operation.security?.length ? 'API key (`X-API-Key` or `Authorization: Bearer`)' : 'none (public)';
  lines.push(`**Authentication:** ${auth}`, '');
  const parameters = operation.parameters ?? [];
  if (parameters.length > 0) {
    lines.push('**Parameters:**', '');
    for (const parameter of parameters) {
      lines.push(`- \`${parameter.name}\` (${parameter.in}${parameter.required ? ', required' : ''}): ${parameter.description ?? 'No description'}`);
    }
    lines.push('');
  }
  const body = operation.requestBody?.content;
  if (body) {
    const types = Object.keys(body).map((type) => `\`${type}\``).join(', ');
    const name = schemaName(Object.values(body)[0]?.schema);
    lines.push(`**Request Body:** JSON (${types})${name ? `, schema \`${name}\`` : ''}`, '');
  }
  const [status, response] = Object.entries(operation.responses).find(([code]) => code.startsWith('2')) ?? [];
  if (status) {
    const name = schemaName(response.content?.['application/json']?.schema);
    lines.push(`**Success Response (${status}):** ${response.description || 'Successful Response'}${name ? `, schema \`${name}\`` : ''}`, '');
  }
  const errors = Object.keys(operation.responses).filter((code) => !code.startsWith('2'));
  if (errors.length > 0) lines.push(`**Error Responses:** ${errors.join(', ')} (error envelope)`, '');
  lines.push('---', '');
  return lines.join('\n');
}

const catalog = [
  '# 📊 Conversion Tracking APIs',
  '',
  `**Endpoint Count:** ${endpoints.length}`,
  '',
  '## Overview',
  '',
  `This category contains ${endpoints.length} endpoints for 📊 conversion tracking operations.`,
  '',
  '',
  '## 📊 Conversion Tracking',
  '',
  '',
  ...endpoints.map(section),
  '---',
  '*Auto-generated from OpenAPI specification*',
  '*For latest updates, run: `npm run catalog`*',
  '',
].join('\n');

if (process.argv.includes('--check')) {
  const current = (() => {
    try {
      return readFileSync(target, 'utf8');
    } catch {
      return '';
    }
  })();
  if (current !== catalog) {
    console.error('docs/api-catalog.md is stale: run npm run catalog and commit it');
    process.exit(1);
  }
  console.log(`docs/api-catalog.md is current (${endpoints.length} endpoints)`);
} else {
  writeFileSync(target, catalog);
  console.log(`wrote docs/api-catalog.md (${endpoints.length} endpoints)`);
}
