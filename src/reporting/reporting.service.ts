import { Injectable, Logger } from '@nestjs/common';
import { ConcurrencyLimit } from '../common/concurrency-limit';
import { DateRange, resolveDateRange } from '../common/validation/date-range';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { AttributionModel } from './attribution-models';
import { CreditFilters, ReportTallies, reportBody, tallyConversions } from './conversion-report';
import { ConversionsRepository } from './conversions.repository';
import { ConversionsQueryDto } from './dto/conversions-query.dto';
import { ConversionsReportDto } from './dto/conversions-report.dto';
import { isSettingsMismatch } from './rollup/attribution-pass';
import { PassThreadDownError } from './rollup/attribution-pass-thread';
import { AttributionRefresher } from './rollup/attribution-refresher';
import { ROLLUP_LOOKBACK_DAYS } from './rollup/conversion-credits';
import { RollupReportRepository } from './rollup/rollup-report.repository';

/** What one report asks for, resolved and defaulted. */
export interface ConversionsQuery {
  range: DateRange;
  model: AttributionModel;
  lookbackDays: number;
  includeBots: boolean;
  eventType: string | undefined;
  filters: CreditFilters;
}

const DEFAULT_RANGE_DAYS = 30;
/**
 * Reports over raw events run a few at a time per process; the rest wait their turn. Each
 * takes seconds of the database's CPU on a large history and slices of the event loop
 * that tracking shares: four at once took an audit's tracking p99 from ~0.1 to 1.5 s, and
 * made each slower, nearer its statement timeout, than it is alone.
 */
const RAW_REPORTS_AT_ONCE = 2;

@Injectable()
export class ReportingService {
  private readonly logger = new Logger(ReportingService.name);
  private readonly rawReports = new ConcurrencyLimit(RAW_REPORTS_AT_ONCE);

  constructor(
    private readonly conversions: ConversionsRepository,
    private readonly rollup: RollupReportRepository,
    private readonly refresher: AttributionRefresher,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async getConversions(query: ConversionsQueryDto): Promise<ConversionsReportDto> {
    const range = resolveDateRange(query, {
      timeZone: this.config.reportTimeZone,
      now: new Date(),
      defaultDays: DEFAULT_RANGE_DAYS,
    });
    const resolved: ConversionsQuery = {
      range,
      model: query.attribution ?? 'last_touch',
      lookbackDays: query.lookback_days ?? ROLLUP_LOOKBACK_DAYS,
      includeBots: query.include_bots ?? false,
      eventType: query.event_type,
      filters: { utmSource: query.utm_source, utmCampaign: query.utm_campaign },
    };
    const tallies = await this.tallies(resolved);
    return {
      start_date: range.startDate,
      end_date: range.endDate,
      timezone: range.timeZone,
      attribution: resolved.model,
      lookback_days: resolved.lookbackDays,
      filters: {
        utm_source: query.utm_source ?? null,
        utm_campaign: query.utm_campaign ?? null,
        event_type: query.event_type ?? null,
        include_bots: resolved.includeBots,
      },
      ...reportBody(tallies, range),
    };
  }

  /** From the rollup when it can answer, else from raw events: both give the same figures. */
  private async tallies(query: ConversionsQuery): Promise<ReportTallies> {
    if (!(await this.canUseRollup(query))) return this.tallyFromEvents(query);
    try {
      return await this.tallyFromRollup(query);
    } catch (error) {
      if (isSettingsMismatch(error)) return this.tallyFromEvents(query); // the refresher said so once
      if (!(error instanceof PassThreadDownError)) throw error;
      this.logger.warn(`Rollup not brought up to date (${error.message}): reading raw events`);
      return this.tallyFromEvents(query);
    }
  }

  /**
   * The rollup holds the default lookback with bots excluded; other reports, and any
   * while a rebuild is under way, are computed from raw events.
   */
  private async canUseRollup(query: ConversionsQuery): Promise<boolean> {
    if (query.lookbackDays !== ROLLUP_LOOKBACK_DAYS || query.includeBots) return false;
    return !(await this.refresher.hasLargeBacklog());
  }

  /** Fast: the daily rollup, after folding in whatever was acknowledged before this call. */
  async tallyFromRollup(query: ConversionsQuery): Promise<ReportTallies> {
    await this.refresher.refresh();
    return this.rollup.tallies(query);
  }

  /** Straightforward: every conversion in range and its touchpoints, attributed in memory. */
  async tallyFromEvents(query: ConversionsQuery): Promise<ReportTallies> {
    return this.rawReports.run(async () => {
      const conversions = await this.conversions.conversionsWithTouchpoints({
        range: query.range,
        lookbackDays: query.lookbackDays,
        conversionTypes: this.config.conversionEventTypes,
        eventType: query.eventType,
        includeBots: query.includeBots,
      });
      return tallyConversions(conversions, query);
    });
  }
}
