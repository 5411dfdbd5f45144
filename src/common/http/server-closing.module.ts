import { Global, Module } from '@nestjs/common';
import { ServerClosing } from './server-closing';

/** One ServerClosing for the whole app: the health check and the controllers read the same stop. */
@Global()
@Module({ providers: [ServerClosing], exports: [ServerClosing] })
export class ServerClosingModule {}
