import { Injectable } from '@nestjs/common';
import {
  ValidationArguments,
  ValidationOptions,
  ValidatorConstraint,
  ValidatorConstraintInterface,
  registerDecorator,
} from 'class-validator';
import { AppConfig } from '../../config/app-config';
import { InjectConfig } from '../../config/config.module';

const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/**
 * `occurred_at` may be at most 5 minutes ahead (clock skew) and at most
 * TRACK_MAX_EVENT_AGE_HOURS old. Injected through class-validator's container so the
 * limit comes from configuration.
 */
@ValidatorConstraint({ name: 'eventTimeWindow' })
@Injectable()
export class EventTimeWindowConstraint implements ValidatorConstraintInterface {
  constructor(@InjectConfig() private readonly config: AppConfig) {}

  validate(value: unknown): boolean {
    return this.problem(value) === undefined;
  }

  defaultMessage(args: ValidationArguments): string {
    return `${args.property} ${this.problem(args.value) ?? 'is out of range'}`;
  }

  private problem(value: unknown): string | undefined {
    return eventTimeProblem(value, this.config.tracking.maxEventAgeHours);
  }
}

/** Why `value` lies outside the accepted window, or undefined (also for what is not a date). */
export function eventTimeProblem(
  value: unknown,
  maxAgeHours: number,
  now = Date.now(),
): string | undefined {
  if (typeof value !== 'string') return undefined; // the format validators report it
  const time = Date.parse(value);
  if (Number.isNaN(time)) return undefined;
  if (time > now + MAX_CLOCK_SKEW_MS) return 'must not be more than 5 minutes in the future';
  if (time < now - maxAgeHours * 3_600_000)
    return `must not be more than ${maxAgeHours} hours in the past`;
  return undefined;
}

export function IsWithinEventTimeWindow(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: EventTimeWindowConstraint,
    });
}
