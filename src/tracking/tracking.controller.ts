import { Body, Controller } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CorsPreflight, PublicPost } from '../common/http/public-endpoint';
import { TrackBatchDto } from './dto/track-batch.dto';
import { TrackBatchResponseDto } from './dto/track-batch-response.dto';
import { TrackEventDto } from './dto/track-event.dto';
import { TrackEventResponseDto } from './dto/track-event-response.dto';
import { ClientRequest, RequestContext } from './request-context';
import { TrackingService } from './tracking.service';
import { WritesInFlight } from '../persistence/writes-in-flight';

@ApiTags('tracking')
@Controller('v1/events')
export class TrackingController {
  constructor(
    private readonly tracking: TrackingService,
    private readonly writes: WritesInFlight,
  ) {}

  /**
   * Track a conversion event
   *
   * Records one event durably, with full attribution, and answers after it is committed.
   * Public (no auth). Accepts `application/json` and `text/plain` (sendBeacon) bodies.
   */
  @PublicPost('track')
  @ApiOkResponse({ type: TrackEventResponseDto })
  trackEvent(
    @Body() event: TrackEventDto,
    @ClientRequest() request: RequestContext,
  ): Promise<TrackEventResponseDto> {
    return this.writes.during(() => this.tracking.track(event, request));
  }

  /**
   * Track up to 100 events
   *
   * Each event is validated and stored on its own; the response has one result per event, in order.
   * A database outage answers 503 when it left nothing stored; once some events are stored,
   * the events it refused carry `database_unavailable` in their result: send only those again.
   */
  @PublicPost('track/batch')
  @ApiOkResponse({ type: TrackBatchResponseDto })
  trackEventBatch(
    @Body() batch: TrackBatchDto,
    @ClientRequest() request: RequestContext,
  ): Promise<TrackBatchResponseDto> {
    return this.writes.during(() => this.tracking.trackBatch(batch, request));
  }

  /**
   * CORS preflight for the tracking endpoint
   *
   * Answers an allowed Origin with its CORS headers (credentials allowed, never `*`); refuses others with 403.
   */
  @CorsPreflight('track')
  preflightTrackEvent(): void {}

  /**
   * CORS preflight for the batch endpoint
   *
   * Answers an allowed Origin with its CORS headers (credentials allowed, never `*`); refuses others with 403.
   */
  @CorsPreflight('track/batch')
  preflightTrackEventBatch(): void {}
}
