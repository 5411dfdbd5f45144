import { Injectable, Logger } from '@nestjs/common';
import {
  addDays,
  daysBefore,
  dateInZone,
  isCalendarDate,
  isKnownTimeZone,
  resolveDateRange,
} from '../common/validation/date-range';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { Ga4Clients } from '../ga4/ga4-clients';
import { Ga4UnavailableError } from '../ga4/ga4.errors';
import { rootCause, sqlState, SqlState } from '../common/sql-state';
import { EventCountsRepository } from './event-counts.repository';
import { ReconciliationRunRepository } from './reconciliation-run.repository';
import { ReconciliationBody, ga4NameFor, reconcileCounts } from './reconcile-counts';

/** Days of a request as a time zone counts them (`yesterday` depends on it). */
export type DaysInZone = (timeZone: string) => { startDate: string; endDate: string };

// No time zone is more than 12 hours behind UTC or 14 ahead.
const EARLIEST_ZONE = 'Etc/GMT+12';
const LATEST_ZONE = 'Etc/GMT-14';

function spanOf(
  a: { startDate: string; endDate: string },
  b: { startDate: string; endDate: string },
): { startDate: string; endDate: string } {
  return {
    startDate: a.startDate < b.startDate ? a.startDate : b.startDate,
    endDate: a.endDate > b.endDate ? a.endDate : b.endDate,
  };
}

/**
 * Each GA4 name is compared with one of our types: a type GA4_EVENT_NAME_MAP maps onto the
 * name another type has as its own would have GA4's whole count twice. The mapped type
 * keeps the name; the other is left out, and a note says so.
 */
export function oneTypePerGa4Name(
  types: readonly string[],
  nameMap: Readonly<Record<string, string>>,
): { compared: string[]; notes: string[] } {
  const owner = new Map<string, string>();
  const mappedFirst = [...types].sort(
    (a, b) => Number(Object.hasOwn(nameMap, b)) - Number(Object.hasOwn(nameMap, a)),
  );
  const notes: string[] = [];
  for (const type of mappedFirst) {
    const name = ga4NameFor(type, nameMap);
    const taken = owner.get(name);
    if (taken === undefined) owner.set(name, type);
    else
      notes.push(
        `${type} is not compared: GA4's ${name} is compared with ${taken} (GA4_EVENT_NAME_MAP).`,
      );
  }
  return { compared: types.filter((type) => owner.get(ga4NameFor(type, nameMap)) === type), notes };
}

export interface ReconciliationReport extends ReconciliationBody {
  start_date: string;
  end_date: string;
  time_zone: string;
  property_id: string;
}

/** GA4's daily event counts against ours, in the property's days. */
@Injectable()
export class ReconciliationService {
  private readonly logger = new Logger(ReconciliationService.name);

  constructor(
    private readonly ga4: Ga4Clients,
    private readonly counts: EventCountsRepository,
    private readonly runs: ReconciliationRunRepository,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * The zone a stored run's days are counted in until its report gives the property's own
   * (a run that fails keeps them): the newest report's for this property, REPORT_TIMEZONE
   * before any, or when it cannot be read or this Node does not know it.
   */
  async likelyPropertyZone(): Promise<string> {
    const zone = await this.runs
      .lastPropertyTimeZone(this.config.ga4.propertyId ?? null)
      .catch((error: unknown) => {
        this.logger.warn(`Could not read the GA4 property's last time zone: ${String(error)}`);
        return null;
      });
    return zone !== null && isKnownTimeZone(zone) ? zone : this.config.reportTimeZone;
  }

  /**
   * The requested days, resolved in a time zone: defaults count back from yesterday, and
   * yesterday is the GA4 property's, whose zone is known only once GA4 answers. Checked
   * here in REPORT_TIMEZONE, so a bad request is a 400 before GA4 is asked. Defaults: the
   * 7 days ending yesterday; a start date alone after yesterday ends on itself.
   */
  resolveRange(query: { start_date?: string; end_date?: string }, now = new Date()): DaysInZone {
    // Checked once; in another zone the same request may span a day more, which is no new error.
    const inZone = (timeZone: string) => {
      const yesterday = addDays(dateInZone(now, timeZone), -1);
      const start = query.start_date;
      const endDate =
        query.end_date ??
        (start !== undefined && isCalendarDate(start) && start > yesterday ? start : yesterday);
      return { startDate: start ?? daysBefore(endDate, 6), endDate };
    };
    resolveDateRange(query, {
      timeZone: this.config.reportTimeZone,
      now,
      defaultDays: 6,
      defaultEndDate: inZone(this.config.reportTimeZone).endDate,
    });
    return inZone;
  }

  /** The last `days` days ending yesterday, as of `now`, in a time zone. */
  lastDays(days: number, now: Date): DaysInZone {
    return (timeZone: string) => {
      const endDate = addDays(dateInZone(now, timeZone), -1);
      return { startDate: addDays(endDate, 1 - days), endDate };
    };
  }

  async reconcile(
    days: DaysInZone,
    { includeBots = false, signal }: { includeBots?: boolean; signal?: AbortSignal } = {},
  ): Promise<ReconciliationReport> {
    const client = this.ga4.client();
    const { eventNameMap } = this.config.ga4;
    // GA4 is asked for every day the range could cover in any zone; its zone then picks them.
    const window = spanOf(days(EARLIEST_ZONE), days(LATEST_ZONE));
    const configured = this.config.reconciliation.eventTypes;
    // Our side is read after GA4's (its zone sets the days): first know it can be read,
    // rather than spend GA4 quota on a run that cannot finish.
    if (configured) await this.counts.checkReachable();
    const candidates =
      configured ?? (await this.counts.typesAround(window.startDate, window.endDate, includeBots));
    // Each name GA4 is asked for is one of the candidates' (a name two of them share, once).
    const ga4 = await client.eventCounts({
      ...window,
      eventNames: [...new Set(candidates.map((type) => ga4NameFor(type, eventNameMap)))],
      signal,
    });
    const range = days(ga4.timeZone);
    const db = await this.counts
      .dailyCounts({ ...range, timeZone: ga4.timeZone, eventTypes: candidates, includeBots })
      .catch((error: unknown) => {
        // A zone newer than PostgreSQL's time zone data: Node's may know it, ours not.
        if (
          sqlState(error) === SqlState.invalidParameterValue &&
          /time zone/i.test(rootCause(error as Error).message)
        )
          throw new Ga4UnavailableError(
            `runReport answered metadata.timeZone ${JSON.stringify(ga4.timeZone)}, which this service's PostgreSQL does not know (its time zone data may be older)`,
          );
        throw error;
      });
    // Unset, the compared types are those stored in the property's days: a type found only
    // in the margin asked of GA4 before its zone was known is not one of them. Which of two
    // types sharing a GA4 name is compared is settled among those.
    const stored = new Set(db.map((count) => count.eventType));
    const { compared: eventTypes, notes: collisionNotes } = oneTypePerGa4Name(
      configured ?? candidates.filter((type) => stored.has(type)),
      eventNameMap,
    );
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
    report.notes.push(...collisionNotes);
    if (includeBots)
      report.notes.push(
        'Our counts include events flagged as bots (include_bots=true); GA4 leaves known bots out of its own.',
      );
    return report;
  }
}
