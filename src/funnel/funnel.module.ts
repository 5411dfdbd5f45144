import { Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { APP_CONFIG } from '../config/config.module';
import { AppConfig } from '../config/app-config';
import { ApiKeyGuard } from '../common/http/api-key.guard';
import { FunnelCatalog } from './funnel-catalog';
import { FunnelLinkMerge } from './funnel-link-merge.entity';
import { FunnelProgress } from './funnel-progress.entity';
import { FunnelReportController } from './funnel-report.controller';
import { FunnelReportRepository } from './funnel-report.repository';
import { FunnelReportService } from './funnel-report.service';
import { FunnelStage } from './funnel-stage.entity';
import { FunnelStageReached } from './funnel-stage-reached.entity';
import { FunnelStagesRepository } from './funnel-stages.repository';
import { FunnelStagesCheck } from './funnel-stages-check';
import { FunnelTransition } from './funnel-transition.entity';
import { FunnelUpdateRequest } from './funnel-update-request.entity';
import { FunnelUpdateRequestRepository } from './funnel-update-request.repository';
import { FunnelController } from './funnel.controller';
import { FunnelRepository } from './funnel.repository';
import { FunnelStageConstraint } from './dto/funnel-stage.constraint';
import { FunnelService } from './funnel.service';
import { LinkMergeSweeper } from './link-merge-sweeper';

@Module({
  imports: [
    MikroOrmModule.forFeature([
      FunnelLinkMerge,
      FunnelProgress,
      FunnelStage,
      FunnelStageReached,
      FunnelTransition,
      FunnelUpdateRequest,
    ]),
  ],
  controllers: [FunnelController, FunnelReportController],
  providers: [
    {
      provide: FunnelCatalog,
      useFactory: (config: AppConfig) => new FunnelCatalog(config.funnels),
      inject: [APP_CONFIG],
    },
    FunnelService,
    FunnelStageConstraint,
    LinkMergeSweeper,
    FunnelStagesRepository,
    FunnelStagesCheck,
    FunnelRepository,
    FunnelUpdateRequestRepository,
    FunnelReportService,
    FunnelReportRepository,
    ApiKeyGuard,
  ],
  exports: [FunnelService],
})
export class FunnelModule {}
