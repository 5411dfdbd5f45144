import { Body, Controller } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CorsPreflight, PublicPost } from '../common/http/public-endpoint';
import { FunnelStageResponseDto } from './dto/funnel-stage-response.dto';
import { UpdateFunnelStageDto } from './dto/update-funnel-stage.dto';
import { FunnelService } from './funnel.service';
import { WritesInFlight } from '../persistence/writes-in-flight';

@ApiTags('funnel')
@Controller('v1/events')
export class FunnelController {
  constructor(
    private readonly funnels: FunnelService,
    private readonly writes: WritesInFlight,
  ) {}

  /**
   * Update a funnel stage
   *
   * Moves a visitor or user forward to a stage (skipping allowed); a stage at or behind the current
   * one changes nothing. Public, same CORS, limits and error envelope as tracking.
   */
  @PublicPost('funnel')
  @ApiOkResponse({ type: FunnelStageResponseDto })
  updateFunnelStage(@Body() update: UpdateFunnelStageDto): Promise<FunnelStageResponseDto> {
    return this.writes.during(() => this.funnels.updateStage(update));
  }

  /**
   * CORS preflight for the funnel endpoint
   *
   * Answers an allowed Origin with its CORS headers (credentials allowed, never `*`); refuses others with 403.
   */
  @CorsPreflight('funnel')
  preflightFunnelStage(): void {}
}
