import { Controller, Get, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RequireApiKey } from '../common/http/api-key.guard';
import { ErrorResponseDto } from '../common/http/error-response.dto';
import { ConversionsQueryDto } from './dto/conversions-query.dto';
import { ConversionsReportDto } from './dto/conversions-report.dto';
import { ReportingService } from './reporting.service';

@ApiTags('reporting')
@RequireApiKey()
@Controller('v1/events')
export class ReportingController {
  constructor(private readonly reporting: ReportingService) {}

  /**
   * Get conversions with attribution
   *
   * Conversions in the date range, credited to the touchpoints (source, medium, campaign) that led to them
   * under the chosen attribution model, with totals, per event type and per day.
   */
  @Get('conversions')
  @ApiOkResponse({ type: ConversionsReportDto })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Invalid dates, range, model or lookback, or a query parameter it does not take',
  })
  getConversions(@Query() query: ConversionsQueryDto): Promise<ConversionsReportDto> {
    return this.reporting.getConversions(query);
  }
}
