import { Controller, Get, Param, Query } from '@nestjs/common';
import { isUUID } from 'class-validator';
import {
  ApiBadGatewayResponse,
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiParam,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { RequireApiKey } from '../common/http/api-key.guard';
import { NotFoundError } from '../common/http/domain-error';
import { ServerClosing } from '../common/http/server-closing';
import { ErrorResponseDto } from '../common/http/error-response.dto';
import { ReconcileQueryDto } from './dto/reconcile-query.dto';
import { ReconciliationReportDto } from './dto/reconciliation-report.dto';
import {
  ReconciliationRunDto,
  ReconciliationRunsPageDto,
  RunsQueryDto,
} from './dto/reconciliation-runs.dto';
import { ReconciliationRunRepository } from './reconciliation-run.repository';
import { ReconciliationService } from './reconciliation.service';

@ApiTags('reconciliation')
@RequireApiKey()
@Controller()
export class ReconciliationController {
  constructor(
    private readonly reconciliation: ReconciliationService,
    private readonly runs: ReconciliationRunRepository,
    private readonly serverClosing: ServerClosing,
  ) {}

  /**
   * Reconcile event counts with GA4
   *
   * GA4's daily event counts (Data API runReport) against ours, per day of the GA4 property and event type,
   * with the differences, their status against the thresholds, and notes explaining the gaps.
   */
  @Get('v1/events/reconcile')
  @ApiOkResponse({ type: ReconciliationReportDto })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Invalid dates or range, or a query parameter it does not take',
  })
  @ApiBadGatewayResponse({
    type: ErrorResponseDto,
    description:
      'GA4 refused the request (its status and message are passed on) or could not be reached in time',
  })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: 'GA4 quota exhausted; Retry-After says when to try again',
  })
  @ApiServiceUnavailableResponse({
    type: ErrorResponseDto,
    description:
      'GA4 is not configured (the message names the variables to set), or the database is unavailable (see Retry-After)',
    // Not configured is no reason to come back: only the database's 503 says when.
    headers: {
      'Retry-After': {
        description: 'Seconds to wait before trying again (when the database is unavailable)',
        schema: { type: 'integer' },
        required: false,
      },
    },
  })
  reconcileWithGa4(@Query() query: ReconcileQueryDto): Promise<ReconciliationReportDto> {
    return this.reconciliation.reconcile(this.reconciliation.resolveRange(query), {
      includeBots: query.include_bots ?? false,
      // GA4 may take its retries' worth of timeouts: at SIGTERM it is given up on, and answered.
      signal: this.serverClosing.signal,
    });
  }

  /**
   * List reconciliation runs
   *
   * Stored scheduled and command-line runs, newest first, with their outcome.
   */
  @Get('v1/reconciliation/runs')
  @ApiOkResponse({ type: ReconciliationRunsPageDto })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Invalid limit or offset, or a query parameter it does not take',
  })
  async listReconciliationRuns(@Query() query: RunsQueryDto): Promise<ReconciliationRunsPageDto> {
    const limit = query.limit ?? 20;
    const offset = query.offset ?? 0;
    return { ...(await this.runs.page(limit, offset)), limit, offset };
  }

  /**
   * Get a reconciliation run
   *
   * One stored run with its full report, or its error.
   */
  @Get('v1/reconciliation/runs/:id')
  @ApiOkResponse({ type: ReconciliationRunDto })
  @ApiParam({ name: 'id', format: 'uuid', description: 'The run’s id, from the run list' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No run with this id' })
  async getReconciliationRun(@Param('id') id: string): Promise<ReconciliationRunDto> {
    // Ids are UUIDs: any other id names no run (a 404, as for an unknown UUID).
    const run = isUUID(id) ? await this.runs.find(id) : null;
    if (!run) throw new NotFoundError(`No reconciliation run ${id}`);
    return run;
  }
}
