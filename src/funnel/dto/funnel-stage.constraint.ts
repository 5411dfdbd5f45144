import { Injectable } from '@nestjs/common';
import {
  ValidationArguments,
  ValidatorConstraint,
  ValidatorConstraintInterface,
  registerDecorator,
} from 'class-validator';
import { FieldError } from '../../common/http/domain-error';
import { DEFAULT_FUNNEL, FunnelCatalog } from '../funnel-catalog';

/**
 * `funnel` and `stage` must name a configured funnel and one of its stages, checked with
 * the body's other rules so that a 400 lists every failing field at once. Injected
 * through class-validator's container: the funnels come from configuration.
 */
@ValidatorConstraint({ name: 'funnelStage' })
@Injectable()
export class FunnelStageConstraint implements ValidatorConstraintInterface {
  constructor(private readonly catalog: FunnelCatalog) {}

  validate(value: unknown, args: ValidationArguments): boolean {
    return this.problem(value, args) === undefined;
  }

  defaultMessage(args: ValidationArguments): string {
    return this.problem(args.value, args)?.message ?? `${args.property} is not known`;
  }

  private problem(value: unknown, args: ValidationArguments): FieldError | undefined {
    if (typeof value !== 'string') return undefined; // the type rules report it
    if (args.property === 'funnel') return this.catalog.funnelProblem(value);
    const funnel = (args.object as { funnel?: unknown }).funnel ?? DEFAULT_FUNNEL;
    return typeof funnel === 'string' ? this.catalog.stageProblem(funnel, value) : undefined;
  }
}

export function IsFunnelOrStage(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      target: target.constructor,
      propertyName: String(propertyName),
      validator: FunnelStageConstraint,
    });
}
