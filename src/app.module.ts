import { DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { GlobalExceptionFilter } from './common/http/global-exception.filter';
import { ServerClosingModule } from './common/http/server-closing.module';
import { ApiValidationPipe } from './common/validation/api-validation.pipe';
import { EventTimeWindowConstraint } from './common/validation/event-time-window.constraint';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { ConnectableDatabase } from './persistence/orm-options';
import { PersistenceModule } from './persistence/persistence.module';
import { ReconciliationModule } from './reconciliation/reconciliation.module';
import { ReportingModule } from './reporting/reporting.module';
import { RetentionModule } from './retention/retention.module';
import { TrackerModule } from './tracker/tracker.module';
import { TrackingModule } from './tracking/tracking.module';

export interface AppModuleOptions {
  config: AppConfig;
  database: ConnectableDatabase;
}

@Module({})
export class AppModule {
  static forRoot({ config, database }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ServerClosingModule,
        PersistenceModule.forRoot(database),
        MetricsModule,
        HealthModule,
        TrackingModule,
        ReportingModule,
        ScheduleModule.forRoot(),
        ReconciliationModule,
        RetentionModule,
        TrackerModule,
      ],
      providers: [
        // Registered as providers, not in main.ts, so every app built for tests has them too.
        { provide: APP_FILTER, useClass: GlobalExceptionFilter },
        { provide: APP_PIPE, useClass: ApiValidationPipe },
        // Reached by class-validator through its container (see app.setup.ts).
        EventTimeWindowConstraint,
      ],
    };
  }
}
