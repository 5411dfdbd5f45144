/** Daily event counts as GA4 reports them, in the property's time zone. */
export interface Ga4EventCounts {
  /** IANA time zone of the property, from the response's metadata. */
  timeZone: string;
  rows: { date: string; eventName: string; count: number }[];
  metadata: {
    subjectToThresholding: boolean;
    sampled: boolean;
    dataLossFromOtherRow: boolean;
  };
}

export interface Ga4EventCountsQuery {
  /** Inclusive, `YYYY-MM-DD`, days of the property. */
  startDate: string;
  endDate: string;
  /** GA4 event names to count; the report is filtered to them. */
  eventNames: readonly string[];
  /** Aborted when the caller no longer waits (the service is stopping). */
  signal?: AbortSignal;
}

/** What the reconciliation needs from GA4; the Data API client implements it. */
export interface Ga4Client {
  readonly propertyId: string;
  eventCounts(query: Ga4EventCountsQuery): Promise<Ga4EventCounts>;
}
