import { Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { ApiKeyGuard } from '../common/http/api-key.guard';
import { Ga4Module } from '../ga4/ga4.module';
import { EventCountsRepository } from './event-counts.repository';
import { ReconciliationRun } from './reconciliation-run.entity';
import { ReconciliationRunRepository } from './reconciliation-run.repository';
import { ReconciliationScheduler } from './reconciliation-scheduler';
import { ReconciliationController } from './reconciliation.controller';
import { ReconciliationService } from './reconciliation.service';

@Module({
  imports: [MikroOrmModule.forFeature([ReconciliationRun]), Ga4Module],
  controllers: [ReconciliationController],
  providers: [
    ReconciliationService,
    EventCountsRepository,
    ReconciliationRunRepository,
    ReconciliationScheduler,
    ApiKeyGuard,
  ],
  exports: [ReconciliationService, ReconciliationRunRepository],
})
export class ReconciliationModule {}
