/** How one funnel moved because of an event. */
export class FunnelUpdateDto {
  /** @example "default" */
  funnel!: string;
  /** @example "signup" */
  stage!: string;
  /** @example "lead" */
  previous_stage!: string | null;
  /** False when the stage was at or behind the subject's current one. */
  advanced!: boolean;
}
