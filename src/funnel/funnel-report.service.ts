import { Injectable } from '@nestjs/common';
import { NotFoundError } from '../common/http/domain-error';
import { resolveDateRange } from '../common/validation/date-range';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { FunnelReportQueryDto, FunnelReportResponseDto } from './dto/funnel-report.dto';
import { FunnelCatalog } from './funnel-catalog';
import { buildFunnelStages } from './funnel-report';
import { FunnelReportRepository } from './funnel-report.repository';

const DEFAULT_RANGE_DAYS = 30;

@Injectable()
export class FunnelReportService {
  constructor(
    private readonly catalog: FunnelCatalog,
    private readonly reports: FunnelReportRepository,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async report(funnelName: string, query: FunnelReportQueryDto): Promise<FunnelReportResponseDto> {
    const funnel = this.catalog.funnel(funnelName);
    if (!funnel) {
      throw new NotFoundError(
        `No funnel "${funnelName}"; funnels: ${this.catalog.funnels.map((f) => f.name).join(', ')}`,
      );
    }
    const range = resolveDateRange(query, {
      timeZone: this.config.reportTimeZone,
      now: new Date(),
      defaultDays: DEFAULT_RANGE_DAYS,
    });
    const counts = await this.reports.stageCounts(funnel.name, range);
    return {
      funnel: funnel.name,
      start_date: range.startDate,
      end_date: range.endDate,
      timezone: range.timeZone,
      stages: buildFunnelStages(funnel, counts),
    };
  }
}
