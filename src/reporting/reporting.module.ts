import { Module } from '@nestjs/common';
import { ApiKeyGuard } from '../common/http/api-key.guard';
import { ConversionsRepository } from './conversions.repository';
import { ReportingController } from './reporting.controller';
import { ReportingService } from './reporting.service';

@Module({
  controllers: [ReportingController],
  providers: [ReportingService, ConversionsRepository, ApiKeyGuard],
  exports: [ReportingService],
})
export class ReportingModule {}
