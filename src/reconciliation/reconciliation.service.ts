import { Injectable } from '@nestjs/common';
import {
  addDays,
  dateInZone,
  isCalendarDate,
  resolveDateRange,
} from '../common/validation/date-range';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { Ga4Clients } from '../ga4/ga4-clients';
import { EventCountsRepository } from './event-counts.repository';
import { ReconciliationBody, ga4NameFor, reconcileCounts } from './reconcile-counts';

export interface ReconciliationReport extends ReconciliationBody {
  start_date: string;
  end_date: string;
  time_zone: string;
  property_id: string;
}

/** GA4's daily event counts against ours, in the property's days. */
@Injectable()
export class ReconciliationService {
  constructor(
    private readonly ga4: Ga4Clients,
    private readonly counts: EventCountsRepository,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * Validated dates, defaulting to the 7 days ending yesterday (in REPORT_TIMEZONE); a
   * start date alone after yesterday ends on itself (today's figures are provisional).
   */
  resolveRange(query: { start_date?: string; end_date?: string }, now = new Date()) {
    const timeZone = this.config.reportTimeZone;
    const yesterday = addDays(dateInZone(now, timeZone), -1);
    const start = query.start_date;
    const defaultEnd =
      start !== undefined && isCalendarDate(start) && start > yesterday ? start : yesterday;
    return resolveDateRange(
      { start_date: start, end_date: query.end_date ?? defaultEnd },
      { timeZone, now, defaultDays: 6 },
    );
  }

  async reconcile(
    range: { startDate: string; endDate: string },
    { includeBots = false, signal }: { includeBots?: boolean; signal?: AbortSignal } = {},
  ): Promise<ReconciliationReport> {
    const client = this.ga4.client();
    const { eventNameMap } = this.config.ga4;
    const eventTypes =
      this.config.reconciliation.eventTypes ??
      (await this.counts.typesAround(range.startDate, range.endDate, includeBots));
    const ga4 = await client.eventCounts({
      startDate: range.startDate,
      endDate: range.endDate,
      eventNames: [...new Set(eventTypes.map((type) => ga4NameFor(type, eventNameMap)))],
      signal,
    });
    const db = await this.counts.dailyCounts({
      ...range,
      timeZone: ga4.timeZone,
      eventTypes,
      includeBots,
    });
    const { warningPct, criticalPct } = this.config.reconciliation;
    const report = {
      start_date: range.startDate,
      end_date: range.endDate,
      time_zone: ga4.timeZone,
      property_id: client.propertyId,
      ...reconcileCounts({
        ...range,
        timeZone: ga4.timeZone,
        eventTypes,
        nameMap: eventNameMap,
        ga4: ga4.rows,
        db,
        ga4Metadata: {
          subject_to_thresholding: ga4.metadata.subjectToThresholding,
          sampled: ga4.metadata.sampled,
          data_loss_from_other_row: ga4.metadata.dataLossFromOtherRow,
        },
        thresholds: { warningPct, criticalPct },
        now: new Date(),
      }),
    };
    if (includeBots)
      report.notes.push(
        'Our counts include events flagged as bots (include_bots=true); GA4 leaves known bots out of its own.',
      );
    return report;
  }
}
