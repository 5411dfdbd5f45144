/**
 * Parsers for environment variables. Each one names the variable in its error,
 * so a bad deployment stops at boot with a message an operator can act on.
 */
export class InvalidEnvironmentError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidEnvironmentError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * A value wrapped in one pair of matching quotes loses them: .env.example quotes values
 * with spaces and `*` (RECONCILE_CRON) so a shell can source it, and `docker --env-file`
 * or a Kubernetes config map keeps such quotes as part of the value.
 */
function unquote(value: string | undefined): string | undefined {
  const match = value === undefined ? null : /^(["'])(.*)\1$/s.exec(value);
  return match ? match[2].trim() : value;
}

/** true / 1 / yes and false / 0 / no, in any case; anything else is not a boolean. */
export function parseBoolean(value: string): boolean | undefined {
  const word = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(word)) return true;
  if (['false', '0', 'no'].includes(word)) return false;
  return undefined;
}

export class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  private raw(name: string): string | undefined {
    const value = unquote(this.env[name]?.trim());
    return value === undefined || value === '' ? undefined : value;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, bounds: { min: number; max: number }): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^-?\d+$/.test(value))
      return this.fail(name, `must be an integer, got "${value}"`, fallback);
    const parsed = Number(value);
    if (parsed < bounds.min || parsed > bounds.max) {
      return this.fail(
        name,
        `must be between ${bounds.min} and ${bounds.max}, got ${parsed}`,
        fallback,
      );
    }
    return parsed;
  }

  number(name: string, fallback: number, bounds: { min: number; max: number }): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!/^-?\d+(\.\d+)?$/.test(value) || parsed < bounds.min || parsed > bounds.max) {
      return this.fail(
        name,
        `must be a number from ${bounds.min} to ${bounds.max}, got "${value}"`,
        fallback,
      );
    }
    return parsed;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    return (
      parseBoolean(value) ?? this.fail(name, `must be true or false, got "${value}"`, fallback)
    );
  }

  list(name: string): string[] {
    return (this.raw(name) ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    return this.fail(name, `must be one of ${allowed.join(', ')}, got "${value}"`, fallback);
  }

  check(name: string, ok: boolean, message: string): void {
    if (!ok) this.problems.push(`${name} ${message}`);
  }

  private fail<T>(name: string, message: string, fallback: T): T {
    this.problems.push(`${name} ${message}`);
    return fallback;
  }

  assertValid(): void {
    if (this.problems.length > 0) throw new InvalidEnvironmentError(this.problems);
  }
}
