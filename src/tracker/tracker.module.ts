import { Module } from '@nestjs/common';
import { TrackerController } from './tracker.controller';

/** The browser tracker script pages embed. */
@Module({ controllers: [TrackerController] })
export class TrackerModule {}
