import { ATTRIBUTION_MODELS } from '../attribution-models';
import type { CreditTuple } from './attribution-refresh.repository';

/**
 * One conversion's credit as `conversion_credits` keeps it: the day, type and currency
 * once, and each distinct (source, medium, campaign, share, amount) once with the models
 * that give it, as a bit mask over ATTRIBUTION_MODELS. Most conversions have one
 * touchpoint in their window, which every model credits alike: one entry instead of five
 * full tuples, about a sixth of the bytes, and the refresher writes one of these per
 * conversion it folds (it was more WAL than the event itself).
 */
export interface StoredCredits {
  d: string;
  t: string;
  c: string | null;
  k: [
    models: number,
    source: string,
    medium: string,
    campaign: string | null,
    share: number,
    micros: string,
  ][];
}

export function packCredits(tuples: readonly CreditTuple[]): StoredCredits {
  if (tuples.length === 0) return { d: '', t: '', c: null, k: [] };
  const [, day, eventType, , , , currency] = tuples[0];
  const entries = new Map<string, StoredCredits['k'][number]>();
  for (const [
    model,
    tupleDay,
    tupleType,
    source,
    medium,
    campaign,
    tupleCurrency,
    share,
    micros,
  ] of tuples) {
    if (tupleDay !== day || tupleType !== eventType || tupleCurrency !== currency) {
      throw new Error('The credit tuples of one conversion must share its day, type and currency');
    }
    const key = JSON.stringify([source, medium, campaign, share, micros]);
    const entry = entries.get(key) ?? [0, source, medium, campaign, share, micros];
    entry[0] |= modelBit(model);
    entries.set(key, entry);
  }
  return { d: day, t: eventType, c: currency, k: [...entries.values()] };
}

export function unpackCredits(stored: StoredCredits): CreditTuple[] {
  const tuples: CreditTuple[] = [];
  for (const [index, model] of ATTRIBUTION_MODELS.entries()) {
    for (const [models, source, medium, campaign, share, micros] of stored.k) {
      if ((models & (1 << index)) === 0) continue;
      tuples.push([model, stored.d, stored.t, source, medium, campaign, stored.c, share, micros]);
    }
  }
  return tuples;
}

function modelBit(model: string): number {
  const index = (ATTRIBUTION_MODELS as readonly string[]).indexOf(model);
  if (index < 0) throw new Error(`Unknown attribution model ${model}`);
  return 1 << index;
}
