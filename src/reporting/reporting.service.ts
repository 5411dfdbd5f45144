import { Injectable } from '@nestjs/common';
import { resolveDateRange } from '../common/validation/date-range';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { buildConversionReport } from './conversion-report';
import { ConversionsRepository } from './conversions.repository';
import { ConversionsQueryDto } from './dto/conversions-query.dto';
import { ConversionsReportDto } from './dto/conversions-report.dto';

const DEFAULT_RANGE_DAYS = 30;

@Injectable()
export class ReportingService {
  constructor(
    private readonly conversions: ConversionsRepository,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async getConversions(query: ConversionsQueryDto): Promise<ConversionsReportDto> {
    const range = resolveDateRange(query, {
      timeZone: this.config.reportTimeZone,
      now: new Date(),
      defaultDays: DEFAULT_RANGE_DAYS,
    });
    const model = query.attribution ?? 'last_touch';
    const lookbackDays = query.lookback_days ?? 30;
    const includeBots = query.include_bots ?? false;
    const conversions = await this.conversions.conversionsWithTouchpoints({
      range,
      lookbackDays,
      conversionTypes: this.config.conversionEventTypes,
      eventType: query.event_type,
      includeBots,
    });
    const body = buildConversionReport(conversions, {
      model,
      lookbackDays,
      filters: { utmSource: query.utm_source, utmCampaign: query.utm_campaign },
      startDate: range.startDate,
      endDate: range.endDate,
    });
    return {
      start_date: range.startDate,
      end_date: range.endDate,
      timezone: range.timeZone,
      attribution: model,
      lookback_days: lookbackDays,
      filters: {
        utm_source: query.utm_source ?? null,
        utm_campaign: query.utm_campaign ?? null,
        event_type: query.event_type ?? null,
        include_bots: includeBots,
      },
      ...body,
    };
  }
}
