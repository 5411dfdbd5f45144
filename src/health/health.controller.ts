import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/http/error-response.dto';
import { HealthResponseDto, ReadinessResponseDto } from './dto/health-response.dto';
import { HealthService } from './health.service';

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  /** Liveness: the process is up and serving HTTP. */
  @Get('health')
  @ApiOkResponse({ type: HealthResponseDto })
  getHealth(): HealthResponseDto {
    return { status: 'ok' };
  }

  /** Readiness: the database is reachable and takes writes, every migration is applied, and no stop is under way. */
  @Get('ready')
  @ApiOkResponse({ type: ReadinessResponseDto })
  @ApiServiceUnavailableResponse({
    type: ErrorResponseDto,
    description:
      'Database unreachable or read-only, migrations pending, or the service shutting down (SIGTERM)',
  })
  getReadiness(): Promise<ReadinessResponseDto> {
    return this.health.checkReadiness();
  }
}
