export class HealthResponseDto {
  /** @example "ok" */
  status!: 'ok';
}

export class ReadinessChecksDto {
  /** @example "up" */
  database!: 'up';
  /** @example "applied" */
  migrations!: 'applied';
}

export class ReadinessResponseDto {
  /** @example "ok" */
  status!: 'ok';
  checks!: ReadinessChecksDto;
}
