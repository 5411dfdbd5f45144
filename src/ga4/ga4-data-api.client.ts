import { AccessTokenSource } from './access-token';
import { Ga4Client, Ga4EventCounts, Ga4EventCountsQuery } from './ga4-client';
import { Ga4HttpOptions, ga4Fetch } from './ga4-http';
import { Ga4ResponseError } from './ga4.errors';
import { ServiceAccount } from './service-account';

/** The subset of the Data API v1beta RunReportResponse read here (proto3 JSON: defaults omitted). */
interface RunReportResponse {
  rows?: { dimensionValues?: { value?: string }[]; metricValues?: { value?: string }[] }[];
  rowCount?: number;
  metadata?: {
    timeZone?: string;
    subjectToThresholding?: boolean;
    dataLossFromOtherRow?: boolean;
    samplingMetadatas?: unknown[];
  };
}

/**
 * GA4 Data API v1beta `runReport`: dimensions date × eventName, metric eventCount,
 * filtered to the compared names, read page by page until `rowCount` rows are in.
 */
export class Ga4DataApiClient implements Ga4Client {
  private readonly tokens: AccessTokenSource;

  constructor(
    readonly propertyId: string,
    private readonly options: { apiUrl: string; pageSize: number; http: Ga4HttpOptions },
    account: ServiceAccount,
  ) {
    this.tokens = new AccessTokenSource(account, options.http);
  }

  async eventCounts(query: Ga4EventCountsQuery): Promise<Ga4EventCounts> {
    const counts: Ga4EventCounts = {
      timeZone: 'UTC',
      rows: [],
      metadata: { subjectToThresholding: false, sampled: false, dataLossFromOtherRow: false },
    };
    for (let offset = 0; ;) {
      const page = await this.runReport(query, offset);
      const meta = page.metadata ?? {};
      counts.timeZone = meta.timeZone ?? counts.timeZone;
      counts.metadata.subjectToThresholding ||= meta.subjectToThresholding ?? false;
      counts.metadata.dataLossFromOtherRow ||= meta.dataLossFromOtherRow ?? false;
      counts.metadata.sampled ||= (meta.samplingMetadatas ?? []).length > 0;
      const rows = page.rows ?? [];
      for (const row of rows) {
        const [date = '', eventName = ''] = (row.dimensionValues ?? []).map((d) => d.value ?? '');
        counts.rows.push({
          date: `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}`,
          eventName,
          count: Number(row.metricValues?.[0]?.value ?? '0'),
        });
      }
      offset += rows.length;
      if (rows.length === 0 || offset >= (page.rowCount ?? 0)) return counts;
    }
  }

  private async runReport(query: Ga4EventCountsQuery, offset: number): Promise<RunReportResponse> {
    const url = `${this.options.apiUrl}/v1beta/properties/${encodeURIComponent(this.propertyId)}:runReport`;
    const body = JSON.stringify({
      dateRanges: [{ startDate: query.startDate, endDate: query.endDate }],
      dimensions: [{ name: 'date' }, { name: 'eventName' }],
      metrics: [{ name: 'eventCount' }],
      ...(query.eventNames.length > 0 && {
        dimensionFilter: {
          filter: { fieldName: 'eventName', inListFilter: { values: query.eventNames } },
        },
      }),
      orderBys: [
        { dimension: { dimensionName: 'date' } },
        { dimension: { dimensionName: 'eventName' } },
      ],
      limit: String(this.options.pageSize),
      offset: String(offset),
      keepEmptyRows: false,
      returnPropertyQuota: false,
    });
    const call = async () =>
      (await ga4Fetch(url, this.options.http, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${await this.tokens.token()}`,
          'Content-Type': 'application/json',
        },
        body,
      })) as RunReportResponse;
    try {
      return await call();
    } catch (error) {
      // A token revoked before its expiry: one fresh exchange, then GA4's answer stands.
      if (!(error instanceof Ga4ResponseError) || error.httpStatus !== 401) throw error;
      this.tokens.invalidate();
      return call();
    }
  }
}
