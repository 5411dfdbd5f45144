import { ApiProperty } from '@nestjs/swagger';
import { ErrorBodyDto } from '../../common/http/error-response.dto';
import { FunnelUpdateDto } from '../../funnel/dto/funnel-update.dto';

export class TrackBatchResultDto {
  /** Position of the event in the request. */
  @ApiProperty({ type: 'integer' })
  index!: number;
  success!: boolean;
  /** The stored event's id; null when the event was rejected. */
  event_id!: string | null;
  duplicate!: boolean;
  funnel_updates!: FunnelUpdateDto[];
  /** Why the event was rejected; null when it was stored. */
  error!: ErrorBodyDto | null;
}

export class TrackBatchResponseDto {
  @ApiProperty({ enum: [true] })
  success!: true;
  /** One result per event, in request order. */
  results!: TrackBatchResultDto[];
}
