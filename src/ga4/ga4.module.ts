import { Module } from '@nestjs/common';
import { Ga4Clients } from './ga4-clients';

/** The GA4 Data API client, behind the Ga4Client interface. */
@Module({
  providers: [Ga4Clients],
  exports: [Ga4Clients],
})
export class Ga4Module {}
