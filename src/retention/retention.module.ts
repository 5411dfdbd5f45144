import { Module } from '@nestjs/common';
import { ReportingModule } from '../reporting/reporting.module';
import { DerivedStateRepository } from './derived-state.repository';
import { EventPartitionMaintenance } from './event-partition-maintenance';
import { EventPartitionsRepository } from './event-partitions.repository';

/** Monthly partitions of `events`: created ahead, dropped past EVENT_RETENTION_DAYS. */
@Module({
  imports: [ReportingModule],
  providers: [EventPartitionsRepository, DerivedStateRepository, EventPartitionMaintenance],
  exports: [EventPartitionMaintenance],
})
export class RetentionModule {}
