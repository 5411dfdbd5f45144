import { ApiProperty } from '@nestjs/swagger';
import { FunnelUpdateDto } from '../../funnel/dto/funnel-update.dto';

export class TrackEventResponseDto {
  @ApiProperty({ enum: [true] })
  success!: true;
  /**
   * The stored event's id: the `event_id` sent, or one generated for it.
   * @example "6f1c2a9e-5b1d-4f57-9a43-2f8f3b1f0c11"
   */
  event_id!: string;
  /** True when an event with this `event_id` was already stored; nothing new was stored. */
  duplicate!: boolean;
  /** Every funnel stage this event reaches, with whether it moved the funnel (`advanced`). */
  funnel_updates!: FunnelUpdateDto[];
}
