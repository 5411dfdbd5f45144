import type { ExampleObject, OperationObject, ResponseObject } from '@nestjs/swagger';

/**
 * Whole-body examples, for people reading /docs and for generated clients' docs: the
 * per-field examples show each value, these show what goes together. Messages are the
 * service's own words; request_id is any id.
 */
const REQUEST_ID = '3f2b8c1e-6a4d-4f0e-9b7a-2c5d8e1f0a93';

const PURCHASE = {
  event_id: 'order-10452',
  event_type: 'purchase',
  visitor_id: 'v_8f14e45f',
  user_id: 'u_1029',
  session_id: 's_20261124_1',
  page_url: 'https://shop.example.com/checkout/done?utm_source=google&utm_medium=cpc',
  referrer: 'https://www.google.com/',
  utm_campaign: 'black_friday',
  value: 129.9,
  currency: 'EUR',
  properties: { items: 3, coupon: 'BF10' },
};

/** Request bodies by their schema's name. */
const REQUEST_EXAMPLES: Record<string, Record<string, ExampleObject>> = {
  TrackEventDto: {
    purchase: { summary: 'A purchase with its attribution', value: PURCHASE },
    page_view: {
      summary: 'A page view, the least an event needs besides its type: a visitor',
      value: { event_type: 'page_view', visitor_id: 'v_8f14e45f' },
    },
  },
  TrackBatchDto: {
    batch: {
      summary: 'Two events: each is validated and answered on its own',
      value: {
        events: [{ event_type: 'page_view', visitor_id: 'v_8f14e45f' }, PURCHASE],
      },
    },
  },
  UpdateFunnelStageDto: {
    stage: {
      summary: 'A visitor reached a stage of the default funnel',
      value: { funnel: 'default', stage: 'lead', visitor_id: 'v_8f14e45f' },
    },
  },
};

interface ErrorExample {
  code: string;
  message: string;
  details?: { field: string; message: string }[];
  /** Only on these operations; otherwise on every operation that documents the status. */
  only?: string[];
}

const PUBLIC_WRITES = ['trackEvent', 'trackEventBatch', 'updateFunnelStage'];
const DATE_RANGE_READS = ['getConversions', 'reconcileWithGa4', 'getFunnelReport'];
const READS = [...DATE_RANGE_READS, 'listReconciliationRuns', 'getReconciliationRun'];

/** Error envelopes by status, as the service words them. */
const ERROR_EXAMPLES: Record<string, ErrorExample[]> = {
  '400': [
    {
      code: 'validation_failed',
      message: 'Request validation failed: event_type',
      details: [
        {
          field: 'event_type',
          message: 'event_type must start with a letter and contain only letters, digits and _',
        },
      ],
      only: ['trackEvent'],
    },
    {
      code: 'validation_failed',
      message: 'Request validation failed: events',
      details: [{ field: 'events', message: 'events must contain at least 1 elements' }],
      only: ['trackEventBatch'],
    },
    {
      code: 'validation_failed',
      message: 'Request validation failed: stage',
      details: [
        {
          field: 'stage',
          message:
            'unknown stage "gold" in funnel "default"; valid stages: visit, lead, signup, customer',
        },
      ],
      only: ['updateFunnelStage'],
    },
    {
      code: 'malformed_body',
      message: 'The body is not valid JSON',
      only: PUBLIC_WRITES,
    },
    {
      code: 'validation_failed',
      message: 'Request validation failed: start_date',
      details: [
        {
          field: 'start_date',
          message:
            'start_date must be a real date in YYYY-MM-DD form, from 1970-01-01 to 9998-12-31',
        },
      ],
      only: DATE_RANGE_READS,
    },
    {
      code: 'validation_failed',
      message: 'Request validation failed: limit',
      details: [
        { field: 'limit', message: 'limit must be a whole number from 1 to 100, in plain digits' },
      ],
      only: ['listReconciliationRuns'],
    },
  ],
  '401': [
    {
      code: 'unauthorized',
      message: 'An API key is required (Authorization: Bearer <key> or X-API-Key)',
    },
  ],
  '403': [
    { code: 'origin_not_allowed', message: 'This origin is not allowed to call this endpoint' },
  ],
  '404': [
    {
      code: 'not_found',
      message: 'No funnel "gold"; funnels: default',
      only: ['getFunnelReport'],
    },
    {
      code: 'not_found',
      message: 'No reconciliation run 6f1c2d3e-0000-4000-8000-000000000000',
      only: ['getReconciliationRun'],
    },
  ],
  '413': [{ code: 'payload_too_large', message: 'Request body is too large' }],
  '415': [
    {
      code: 'unsupported_media_type',
      message: 'Content-Encoding gzip is not supported; send the body uncompressed',
    },
  ],
  '429': [
    {
      code: 'rate_limited',
      message: 'Rate limit exceeded, retry in 1 minute',
      only: PUBLIC_WRITES,
    },
    {
      code: 'ga4_rate_limited',
      message: 'GA4 quota exhausted (RESOURCE_EXHAUSTED): Exhausted property tokens per hour.',
      only: ['reconcileWithGa4'],
    },
  ],
  '500': [{ code: 'internal_error', message: 'Internal server error' }],
  '502': [
    {
      code: 'ga4_error',
      message:
        'GA4 answered 403 PERMISSION_DENIED: User does not have sufficient permissions for this property.',
    },
    {
      code: 'ga4_unavailable',
      message: 'GA4 is unavailable: no answer within 10000 ms',
    },
  ],
  '503': [
    {
      code: 'not_ready',
      message: 'The service is not ready',
      details: [{ field: 'database', message: 'unreachable' }],
      only: ['getReadiness'],
    },
    {
      code: 'database_unavailable',
      message:
        'The database is unavailable (connection failed or timed out); retry later: nothing is half-written, and a resend with the same event_id is never stored twice',
      only: [...PUBLIC_WRITES, ...READS],
    },
    {
      code: 'overloaded',
      message:
        'Too many events are waiting to be stored; nothing of this one was stored: retry later',
      only: ['trackEvent', 'trackEventBatch'],
    },
    {
      code: 'ga4_not_configured',
      message:
        'GA4 is not configured: set GA4_PROPERTY_ID and GA4_CREDENTIALS_FILE (see README, "GA4 reconciliation")',
      only: ['reconcileWithGa4'],
    },
  ],
};

/** Adds whole-body examples to the operation's request body and its error answers. */
export function documentExamples(operation: OperationObject): void {
  const body = operation.requestBody as
    { content?: Record<string, { schema?: { $ref?: string }; examples?: unknown }> } | undefined;
  const json = body?.content?.['application/json'];
  const schemaName = json?.schema?.$ref?.split('/').pop();
  if (json && schemaName && REQUEST_EXAMPLES[schemaName])
    json.examples = REQUEST_EXAMPLES[schemaName];

  for (const [status, value] of Object.entries(operation.responses)) {
    const content = (value as ResponseObject).content?.['application/json'];
    const examples = (ERROR_EXAMPLES[status] ?? []).filter(
      (example) => example.only === undefined || example.only.includes(operation.operationId ?? ''),
    );
    if (content === undefined || examples.length === 0) continue;
    // A copy: Nest shares one content object among the operations a decorator was put on.
    (value as ResponseObject).content = {
      ...(value as ResponseObject).content,
      'application/json': {
        ...content,
        examples: Object.fromEntries(
          examples.map(({ code, message, details = [] }, index) => [
            examples.findIndex((other) => other.code === code) === index
              ? code
              : `${code}_${index}`,
            {
              value: {
                success: false,
                error: { code, message, details },
                request_id: REQUEST_ID,
              },
            },
          ]),
        ),
      },
    };
  }
}
