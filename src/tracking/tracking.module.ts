import { Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { EventRepository } from './event.repository';
import { EventTimeWindowConstraint } from './event-time-window.constraint';
import { IdentityLink } from './identity-link.entity';
import { TrackedEvent } from './tracked-event.entity';
import { TrackingController } from './tracking.controller';
import { TrackingService } from './tracking.service';

@Module({
  imports: [MikroOrmModule.forFeature([TrackedEvent, IdentityLink])],
  controllers: [TrackingController],
  providers: [TrackingService, EventRepository, EventTimeWindowConstraint],
  exports: [TrackingService],
})
export class TrackingModule {}
