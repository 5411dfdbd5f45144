import { readFileSync } from 'node:fs';

export interface FunnelStageDefinition {
  name: string;
  /** Event types that reach this stage. */
  eventTypes: string[];
}

export interface FunnelDefinition {
  name: string;
  /** In order: a subject only moves forward through them. */
  stages: FunnelStageDefinition[];
}

/** Built in when FUNNELS_FILE is unset; GA4 recommended event names. */
export const DEFAULT_FUNNELS: FunnelDefinition[] = [
  {
    name: 'default',
    stages: [
      { name: 'visit', eventTypes: ['page_view'] },
      { name: 'lead', eventTypes: ['generate_lead'] },
      { name: 'signup', eventTypes: ['sign_up'] },
      { name: 'customer', eventTypes: ['purchase'] },
    ],
  },
];

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_]{0,39}$/;

/**
 * Reads and validates FUNNELS_FILE:
 * `{"funnels": [{"name": "...", "stages": [{"name": "...", "event_types": ["..."]}]}]}`.
 * Returns the definitions or the list of problems, each naming where it is.
 */
export function readFunnelsFile(
  path: string,
): { funnels: FunnelDefinition[] } | { problems: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    return { problems: [`cannot read ${path}: ${(error as Error).message}`] };
  }
  return parseFunnels(parsed);
}

export function parseFunnels(
  input: unknown,
): { funnels: FunnelDefinition[] } | { problems: string[] } {
  const problems: string[] = [];
  const list = (input as { funnels?: unknown } | null)?.funnels;
  if (!Array.isArray(list) || list.length === 0)
    return { problems: ['must be {"funnels": [ ...at least one funnel ]}'] };
  refuseUnknownKeys(input as object, ['funnels'], 'the file', problems);
  const funnels: FunnelDefinition[] = [];
  const funnelNames = new Set<string>();
  list.forEach((raw: unknown, index) => {
    const at = `funnels[${index}]`;
    const funnel = raw as { name?: unknown; stages?: unknown } | null;
    if (typeof funnel?.name !== 'string' || !NAME.test(funnel.name)) {
      problems.push(`${at}.name must match ${NAME.source}`);
      return;
    }
    refuseUnknownKeys(funnel, ['name', 'stages'], at, problems);
    if (funnelNames.has(funnel.name)) problems.push(`${at}.name "${funnel.name}" is defined twice`);
    funnelNames.add(funnel.name);
    const stages = parseStages(funnel.stages, `${at} (${funnel.name})`, problems);
    if (stages) funnels.push({ name: funnel.name, stages });
  });
  return problems.length > 0 ? { problems } : { funnels };
}

function parseStages(
  input: unknown,
  at: string,
  problems: string[],
): FunnelStageDefinition[] | undefined {
  if (!Array.isArray(input) || input.length === 0) {
    problems.push(`${at}.stages must be a non-empty array`);
    return undefined;
  }
  const stageNames = new Set<string>();
  const eventOwners = new Map<string, string>();
  const stages: FunnelStageDefinition[] = [];
  input.forEach((raw: unknown, index) => {
    const where = `${at}.stages[${index}]`;
    const stage = raw as { name?: unknown; event_types?: unknown } | null;
    if (typeof stage?.name !== 'string' || !NAME.test(stage.name)) {
      problems.push(`${where}.name must match ${NAME.source}`);
      return;
    }
    refuseUnknownKeys(stage, ['name', 'event_types'], where, problems);
    if (stageNames.has(stage.name)) problems.push(`${where}.name "${stage.name}" is defined twice`);
    stageNames.add(stage.name);
    const types = stage.event_types;
    if (
      !Array.isArray(types) ||
      types.length === 0 ||
      !types.every((t) => typeof t === 'string' && EVENT_TYPE.test(t))
    ) {
      problems.push(`${where}.event_types must be a non-empty array of GA4 event names`);
      return;
    }
    for (const type of types as string[]) {
      const owner = eventOwners.get(type);
      // One event type, one stage: otherwise an event's target stage would be ambiguous.
      if (owner) problems.push(`${where}: event type "${type}" already reaches stage "${owner}"`);
      eventOwners.set(type, stage.name);
    }
    stages.push({ name: stage.name, eventTypes: types as string[] });
  });
  return stages;
}

/** A misspelt key (`event_type`, `stage`) would otherwise be dropped without a word. */
function refuseUnknownKeys(
  value: object,
  allowed: readonly string[],
  at: string,
  problems: string[],
): void {
  for (const key of Object.keys(value))
    if (!allowed.includes(key))
      problems.push(`${at} has an unknown key "${key}" (expected ${allowed.join(', ')})`);
}
