import { Module } from '@nestjs/common';
import { ReportingModule } from '../reporting/reporting.module';
import { DerivedStateRepository } from './derived-state.repository';
import { EventPartitionMaintenance } from './event-partition-maintenance';
import { EventPartitionsRepository } from './event-partitions.repository';
import { StrayEventMover } from './stray-event-mover';
import { StrayEventsRepository } from './stray-events.repository';

/** Monthly partitions of `events`: created ahead, dropped past EVENT_RETENTION_DAYS. */
@Module({
  imports: [ReportingModule],
  providers: [
    EventPartitionsRepository,
    StrayEventsRepository,
    StrayEventMover,
    DerivedStateRepository,
    EventPartitionMaintenance,
  ],
  exports: [EventPartitionMaintenance],
})
export class RetentionModule {}
