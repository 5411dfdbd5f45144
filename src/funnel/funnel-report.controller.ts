import { Controller, Get, Param, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import { RequireApiKey } from '../common/http/api-key.guard';
import { ErrorResponseDto } from '../common/http/error-response.dto';
import { FunnelReportQueryDto, FunnelReportResponseDto } from './dto/funnel-report.dto';
import { FunnelReportService } from './funnel-report.service';

@ApiTags('funnel')
@RequireApiKey()
@Controller('v1/funnels')
export class FunnelReportController {
  constructor(private readonly reports: FunnelReportService) {}

  /**
   * Get a funnel report
   *
   * Per stage: subjects that entered the funnel within the range and reached the stage (or a later one),
   * conversion from the previous and the first stage, and the median time from the previous stage.
   */
  @Get(':funnel')
  @ApiOkResponse({ type: FunnelReportResponseDto })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Invalid dates or range, or a query parameter it does not take',
  })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such funnel' })
  getFunnelReport(
    @Param('funnel') funnel: string,
    @Query() query: FunnelReportQueryDto,
  ): Promise<FunnelReportResponseDto> {
    return this.reports.report(funnel, query);
  }
}
