import { beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from './support/api-client';
import { useAppFixture } from './support/app-fixture';

const KEY = 'client-key-0123456789';
const ORIGIN = 'https://shop.example.com';

/**
 * Every endpoint through the client generated from openapi.json, every JSON answer
 * checked against the schema the document gives for its status (see api-client.ts).
 */
describe('the API through its generated client', () => {
  const fixture = useAppFixture({ API_KEYS: KEY });
  const api = () => apiClient(fixture.app);
  const reader = () => apiClient(fixture.app, { 'X-API-Key': KEY });

  beforeAll(async () => {
    const { data, response } = await api().POST('/v1/events/track', {
      body: {
        event_type: 'sign_up',
        visitor_id: 'client-visitor',
        user_id: 'client-user',
        page_url: 'https://shop.example.com/?utm_source=google&utm_medium=cpc&utm_campaign=bf',
      },
    });
    expect(response.status).toBe(200);
    expect(data?.success).toBe(true);
  });

  it('tracks events one at a time and in batches, with per-event errors', async () => {
    const one = await api().POST('/v1/events/track', {
      body: { event_type: 'purchase', visitor_id: 'client-visitor', value: 10, currency: 'EUR' },
      headers: { Origin: ORIGIN },
    });
    expect(one.data).toMatchObject({ success: true, duplicate: false });
    const invalid = await api().POST('/v1/events/track', {
      body: { event_type: '', visitor_id: 'x' },
    });
    expect(invalid.response.status).toBe(400);
    expect(invalid.error?.error.code).toBe('validation_failed');

    const batch = await api().POST('/v1/events/track/batch', {
      body: {
        events: [
          { event_type: 'page_view', visitor_id: 'client-visitor' },
          { event_type: 'page_view' } as never,
        ],
      },
    });
    expect(batch.data?.results.map((result) => result.success)).toEqual([true, false]);
  });

  it('answers CORS preflights for allowed origins and refuses others', async () => {
    for (const path of ['/v1/events/track', '/v1/events/funnel'] as const) {
      const allowed = await api().OPTIONS(path, {
        headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST' },
      });
      expect(allowed.response.status).toBe(200);
      expect(allowed.response.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      const refused = await api().OPTIONS(path, {
        headers: { Origin: 'https://evil.example.net', 'Access-Control-Request-Method': 'POST' },
      });
      expect(refused.response.status).toBe(403);
    }
  });

  it('moves funnels and reports them', async () => {
    const moved = await api().POST('/v1/events/funnel', {
      body: { funnel: 'default', stage: 'customer', user_id: 'client-user' },
    });
    expect(moved.data?.success).toBe(true);
    const report = await reader().GET('/v1/funnels/{funnel}', {
      params: { path: { funnel: 'default' } },
    });
    expect(report.data?.funnel).toBe('default');
    const unknown = await reader().GET('/v1/funnels/{funnel}', {
      params: { path: { funnel: 'nope' } },
    });
    expect(unknown.response.status).toBe(404);
  });

  it('reports conversions, refusing bad queries and missing keys', async () => {
    const report = await reader().GET('/v1/events/conversions', {
      params: { query: { attribution: 'linear' } },
    });
    expect(report.data?.totals.conversions).toBeGreaterThan(0);
    const bad = await reader().GET('/v1/events/conversions', {
      params: { query: { start_date: '2026-02-30' } },
    });
    expect(bad.response.status).toBe(400);
    const anonymous = await api().GET('/v1/events/conversions');
    expect(anonymous.response.status).toBe(401);
  });

  it('reconciles (here without GA4 settings) and lists runs', async () => {
    const reconcile = await reader().GET('/v1/events/reconcile');
    expect(reconcile.response.status).toBe(503);
    expect(reconcile.error?.error.code).toBe('ga4_not_configured');
    const runs = await reader().GET('/v1/reconciliation/runs', { params: { query: { limit: 5 } } });
    expect(runs.data).toMatchObject({ runs: [], limit: 5, offset: 0, total: 0 });
    const missing = await reader().GET('/v1/reconciliation/runs/{id}', {
      params: { path: { id: '00000000-0000-4000-8000-000000000000' } },
    });
    expect(missing.response.status).toBe(404);
  });

  it('serves health, readiness and metrics', async () => {
    expect((await api().GET('/health')).data).toMatchObject({ status: 'ok' });
    expect((await api().GET('/ready')).response.status).toBe(200);
    const metrics = await api().GET('/metrics', { parseAs: 'text' });
    expect(metrics.data).toContain('http_request_duration_seconds');
  });

  it('serves the document it was generated from, and Swagger UI, at the paths it lists', async () => {
    const json = await api().GET('/openapi.json');
    expect(json.response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(json.response.headers.get('x-request-id')).toBeTruthy();
    expect(json.data).toHaveProperty(
      ['paths', '/openapi.json', 'get', 'operationId'],
      'getOpenApiDocument',
    );
    const yaml = await api().GET('/openapi.yaml', { parseAs: 'text' });
    expect(yaml.response.headers.get('content-type')).toMatch(/^text\/yaml/);
    expect(yaml.data).toContain('operationId: getApiDocs');
    const ui = await api().GET('/docs', { parseAs: 'text' });
    expect(ui.response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(ui.data).toContain('swagger');
  });
});
