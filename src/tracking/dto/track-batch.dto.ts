import { ArrayMaxSize, ArrayMinSize, IsArray, IsObject } from 'class-validator';
import { TrackEventDto } from './track-event.dto';

export const MAX_BATCH_EVENTS = 100;

export class TrackBatchDto {
  /**
   * 1–100 events, each validated and stored on its own: one bad event does not lose the others.
   * Items are checked one by one by the service, so this DTO only checks the envelope.
   */
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_EVENTS)
  @IsObject({ each: true, message: 'each value in events must be a JSON object' })
  events!: TrackEventDto[];
}
