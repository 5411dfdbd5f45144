import { Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { FunnelModule } from '../funnel/funnel.module';
import { EventBatcher } from './event-batcher';
import { EventRepository } from './event.repository';
import { IdentityLink } from './identity-link.entity';
import { TrackedEvent } from './tracked-event.entity';
import { EventId } from './event-id.entity';
import { TrackingController } from './tracking.controller';
import { TrackingService } from './tracking.service';

@Module({
  imports: [MikroOrmModule.forFeature([TrackedEvent, EventId, IdentityLink]), FunnelModule],
  controllers: [TrackingController],
  providers: [TrackingService, EventRepository, EventBatcher],
  exports: [TrackingService],
})
export class TrackingModule {}
