import { ArrayMaxSize, ArrayMinSize, IsArray, IsObject } from 'class-validator';
import { registerFastCheck } from '../../common/validation/fast-check';
import { TrackEventDto } from './track-event.dto';
import { ApiProperty } from '@nestjs/swagger';

export const MAX_BATCH_EVENTS = 100;

export class TrackBatchDto {
  /**
   * 1–100 events, each validated and stored on its own: one bad event does not lose the others.
   * Items are checked one by one by the service, so this DTO only checks the envelope.
   */
  @ApiProperty({ maxItems: MAX_BATCH_EVENTS })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_EVENTS)
  @IsObject({ each: true, message: 'each value in events must be a JSON object' })
  events!: TrackEventDto[];
}

/** The envelope's fast check (see fast-check.ts): only `events`, 1–100 JSON objects. */
export function isPlainlyValidTrackBatch(body: Record<string, unknown>): boolean {
  for (const key in body) if (key !== 'events') return false;
  const { events } = body;
  return (
    Array.isArray(events) &&
    events.length >= 1 &&
    events.length <= MAX_BATCH_EVENTS &&
    events.every((event) => typeof event === 'object' && event !== null && !Array.isArray(event))
  );
}

registerFastCheck(TrackBatchDto, isPlainlyValidTrackBatch, { itemsValidatedByService: 'events' });
