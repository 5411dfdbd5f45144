import { AccessTokenSource } from './access-token';
import { Ga4Client, Ga4EventCounts, Ga4EventCountsQuery } from './ga4-client';
import { Ga4HttpOptions, ga4Fetch } from './ga4-http';
import { Ga4ResponseError, Ga4UnavailableError } from './ga4.errors';
import { ServiceAccount } from './service-account';
import { isKnownTimeZone } from '../common/validation/date-range';

/**
 * The subset of the Data API v1beta RunReportResponse read here (proto3 JSON: defaults
 * omitted), as parsed and unchecked: a malformed answer must become a GA4 failure, not
 * a crash or a wrong report.
 */
interface RunReportResponse {
  rows?: unknown;
  rowCount?: unknown;
  metadata?: unknown;
}

interface ResponseMetaData {
  timeZone?: unknown;
  subjectToThresholding?: unknown;
  dataLossFromOtherRow?: unknown;
  samplingMetadatas?: unknown;
}

/**
 * Most runReport pages read for one report. At the default GA4_PAGE_SIZE of 10,000 that
 * is a million (date, event name) rows, a year of some 2,700 event names: beyond any real
 * property. A GA4 (or proxy) that keeps promising more rows is given up on after this many
 * requests, not followed until the property's quota is gone.
 */
const MAX_PAGES = 100;
/** RunReportResponse.row_count is an int32 on the wire. */
const MAX_ROW_COUNT = 2 ** 31 - 1;

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
    if (query.eventNames.length === 0) {
      // Nothing to compare: only the property's zone and flags, not every name it has.
      addMetadata(counts, (await this.runReport(query, 0, 1)).metadata);
      return counts;
    }
    const seen = new Set<string>();
    for (let offset = 0, pages = 1; ; pages++) {
      const page = await this.runReport(query, offset, this.options.pageSize);
      addMetadata(counts, page.metadata);
      const added = addRows(counts, page.rows, seen);
      offset += added;
      const rowCount = checkedRowCount(page.rowCount);
      if (offset >= rowCount) return counts;
      // Asking again after a page without rows would get the same empty page, forever.
      if (added === 0) {
        throw new Ga4UnavailableError(
          `runReport answered no rows at offset ${offset} although rowCount is ${rowCount}`,
        );
      }
      if (pages >= MAX_PAGES) {
        throw new Ga4UnavailableError(
          `runReport still had rows after ${MAX_PAGES} pages (read ${offset} of rowCount ${rowCount}); a larger GA4_PAGE_SIZE needs fewer pages`,
        );
      }
    }
  }

  private async runReport(
    query: Ga4EventCountsQuery,
    offset: number,
    limit: number,
  ): Promise<RunReportResponse> {
    const url = `${this.options.apiUrl}/v1beta/properties/${encodeURIComponent(this.propertyId)}:runReport`;
    const body = JSON.stringify({
      dateRanges: [{ startDate: query.startDate, endDate: query.endDate }],
      dimensions: [{ name: 'date' }, { name: 'eventName' }],
      metrics: [{ name: 'eventCount' }],
      ...(query.eventNames.length > 0 && {
        dimensionFilter: {
          // GA4 event names are case-sensitive; the filter is not unless told (caseSensitive
          // defaults to false), and would bring `Purchase` rows for `purchase`.
          filter: {
            fieldName: 'eventName',
            inListFilter: { values: query.eventNames, caseSensitive: true },
          },
        },
      }),
      orderBys: [
        { dimension: { dimensionName: 'date' } },
        { dimension: { dimensionName: 'eventName' } },
      ],
      limit: String(limit),
      offset: String(offset),
      keepEmptyRows: false,
      returnPropertyQuota: false,
    });
    const call = async () =>
      (await ga4Fetch(url, this.options.http, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${await this.tokens.token(query.signal)}`,
          'Content-Type': 'application/json',
        },
        body,
        signal: query.signal,
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

/** Every page carries the property's zone; a flag on any page holds for the report. */
function addMetadata(counts: Ga4EventCounts, metadata: unknown): void {
  if (typeof metadata !== 'object' || metadata === null)
    throw new Ga4UnavailableError('runReport answered without metadata (the property time zone)');
  const meta = metadata as ResponseMetaData;
  counts.timeZone = checkedTimeZone(meta.timeZone);
  counts.metadata.subjectToThresholding ||= meta.subjectToThresholding === true;
  counts.metadata.dataLossFromOtherRow ||= meta.dataLossFromOtherRow === true;
  counts.metadata.sampled ||=
    Array.isArray(meta.samplingMetadatas) && meta.samplingMetadatas.length > 0;
}

/**
 * Adds a page's rows to `counts`; returns how many it held. A (date, event name) GA4
 * answers twice means the report changed between pages (GA4 still processing): its
 * counts would be added up wrong, so the read fails and may be asked again.
 */
function addRows(counts: Ga4EventCounts, rows: unknown, seen: Set<string>): number {
  if (rows === undefined) return 0;
  if (!Array.isArray(rows)) throw malformedRow(rows);
  for (const row of rows as unknown[]) {
    const [date, eventName, count] = rowValues(row);
    const checked = { date: checkedDate(date), eventName, count: checkedCount(count) };
    const key = `${checked.date} ${eventName}`;
    if (seen.has(key)) {
      throw new Ga4UnavailableError(
        `runReport answered ${checked.date} ${JSON.stringify(eventName)} twice: the report changed while it was read page by page; asking again may help`,
      );
    }
    seen.add(key);
    counts.rows.push(checked);
  }
  return rows.length;
}

/** A row's date, event name and count values (the count may be omitted: proto3 JSON drops a zero). */
function rowValues(row: unknown): [unknown, string, unknown] {
  const { dimensionValues, metricValues } = (row ?? {}) as Record<string, unknown>;
  if (Array.isArray(dimensionValues) && dimensionValues.length === 2) {
    const [date, name] = dimensionValues.map((d) => (d as { value?: unknown } | null)?.value);
    const metric = Array.isArray(metricValues) ? (metricValues[0] as { value?: unknown }) : {};
    if (typeof name === 'string' && typeof metric === 'object' && metric !== null)
      return [date, name, metric.value];
  }
  throw malformedRow(row);
}

function malformedRow(row: unknown): Ga4UnavailableError {
  return new Ga4UnavailableError(
    `runReport answered ${JSON.stringify(row)?.slice(0, 200)} where rows of date, eventName and eventCount belong`,
  );
}

/** GA4's `date` dimension is YYYYMMDD; anything else would be bucketed nowhere. */
function checkedDate(date: unknown): string {
  if (typeof date === 'string' && /^\d{8}$/.test(date))
    return `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}`;
  throw new Ga4UnavailableError(
    `runReport answered date ${JSON.stringify(date)}, which is not a YYYYMMDD day`,
  );
}

/** eventCount is an int64, which proto3 JSON writes as a string of digits; a report must not make up a count. */
function checkedCount(count: unknown): number {
  if (count === undefined) return 0; // proto3 JSON omits a zero
  if (typeof count === 'string' && /^\d{1,15}$/.test(count)) return Number(count);
  if (typeof count === 'number' && Number.isSafeInteger(count) && count >= 0) return count;
  throw new Ga4UnavailableError(
    `runReport answered eventCount ${JSON.stringify(count)}, which is not an event count`,
  );
}

/** The property's time zone: days are bucketed in it, so a missing or unknown zone is a GA4 failure. */
function checkedTimeZone(zone: unknown): string {
  if (typeof zone === 'string' && isKnownTimeZone(zone)) return zone;
  throw new Ga4UnavailableError(
    `runReport answered metadata.timeZone ${JSON.stringify(zone)}, which is not an IANA time zone`,
  );
}

/** rowCount drives the paging, so anything but a plausible count is a GA4 failure. */
function checkedRowCount(rowCount: unknown): number {
  if (rowCount === undefined) return 0; // proto3 JSON omits a zero
  if (typeof rowCount === 'number' && Number.isInteger(rowCount)) {
    if (rowCount >= 0 && rowCount <= MAX_ROW_COUNT) return rowCount;
  }
  throw new Ga4UnavailableError(
    `runReport answered rowCount ${JSON.stringify(rowCount)}, which is not a row count`,
  );
}
