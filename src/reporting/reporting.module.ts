import { Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { ApiKeyGuard } from '../common/http/api-key.guard';
import { ConversionsRepository } from './conversions.repository';
import { ReportingController } from './reporting.controller';
import { ReportingService } from './reporting.service';
import { AttributionDaily } from './rollup/attribution-daily.entity';
import { AttributionMark } from './rollup/attribution-mark.entity';
import { AttributionRefreshRepository } from './rollup/attribution-refresh.repository';
import { AttributionPassThread } from './rollup/attribution-pass-thread';
import { AttributionRefresher } from './rollup/attribution-refresher';
import { AttributionState } from './rollup/attribution-state.entity';
import { ConversionCredit } from './rollup/conversion-credit.entity';
import { RollupReportRepository } from './rollup/rollup-report.repository';

@Module({
  imports: [
    MikroOrmModule.forFeature([
      AttributionMark,
      ConversionCredit,
      AttributionDaily,
      AttributionState,
    ]),
  ],
  controllers: [ReportingController],
  providers: [
    ReportingService,
    ConversionsRepository,
    RollupReportRepository,
    AttributionRefreshRepository,
    AttributionPassThread,
    AttributionRefresher,
    ApiKeyGuard,
  ],
  exports: [ReportingService, AttributionRefreshRepository],
})
export class ReportingModule {}
