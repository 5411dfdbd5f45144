import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

type Stages = { name: string; event_types: string[] }[];

const DEFAULT_STAGES: Stages = [
  { name: 'visit', event_types: ['page_view'] },
  { name: 'lead', event_types: ['generate_lead'] },
  { name: 'signup', event_types: ['sign_up'] },
  { name: 'customer', event_types: ['purchase'] },
];
const WITH_REPEAT: Stages = [
  ...DEFAULT_STAGES,
  { name: 'repeat', event_types: ['repeat_purchase'] },
];

/**
 * FUNNELS_FILE changes between starts. Stored progress refers to a stage by position: a
 * change that would make a subject at "customer" read as "signup" stops the start.
 */
describe('a funnel whose stages change between starts', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const funnelsFile = async (funnels: { name: string; stages: Stages }[]) => {
    const file = join(await mkdtemp(join(tmpdir(), 'ct-stages-')), 'funnels.json');
    await writeFile(file, JSON.stringify({ funnels }));
    return file;
  };
  const startWith = async (funnels: { name: string; stages: Stages }[]) => {
    await app?.close();
    app = undefined;
    app = await createTestApp(db.url, { FUNNELS_FILE: await funnelsFile(funnels) });
  };
  const track = (visitor: string, eventType: string) =>
    request(app!.getHttpServer())
      .post('/v1/events/track')
      .send(anEvent({ visitor_id: visitor, event_type: eventType, value: undefined }))
      .expect(200);

  it('refuses to start when a stage with progress behind it would move, be removed or renamed', async () => {
    await startWith([
      { name: 'default', stages: DEFAULT_STAGES },
      { name: 'trial', stages: [{ name: 'started', event_types: ['trial_start'] }] },
    ]);
    for (const type of ['page_view', 'generate_lead', 'sign_up', 'purchase'])
      await track('a', type);
    await app!.close();
    app = undefined;

    const inserted = [DEFAULT_STAGES[0], { name: 'engaged', event_types: ['scroll'] }];
    for (const [stages, said] of [
      [[...inserted, ...DEFAULT_STAGES.slice(1)], '"lead" moved from position 2 to 3'],
      [[DEFAULT_STAGES[0], ...DEFAULT_STAGES.slice(2)], '"lead" (position 2) is gone'],
      [DEFAULT_STAGES.map((s) => (s.name === 'lead' ? { ...s, name: 'prospect' } : s)), '"lead"'],
    ] as const) {
      const file = await funnelsFile([{ name: 'default', stages: [...stages] }]);
      await expect(createTestApp(db.url, { FUNNELS_FILE: file })).rejects.toThrow(
        new RegExp(
          `^FUNNELS_FILE changes stages .*funnel "default": .*${said.replace(/[()]/g, '\\$&')}`,
        ),
      );
    }
    const { rows } = await db.pool.query(
      'SELECT subject_id, stage, stage_index FROM funnel_progress',
    );
    expect(rows).toEqual([{ subject_id: 'a', stage: 'customer', stage_index: 3 }]);
  });

  it('starts with stages added at the end, other event types, and a funnel without progress changed', async () => {
    await startWith([
      {
        name: 'default',
        stages: [
          ...DEFAULT_STAGES.map((s) =>
            s.name === 'lead' ? { ...s, event_types: ['contact'] } : s,
          ),
          { name: 'repeat', event_types: ['repeat_purchase'] },
        ],
      },
      // No subject ever started it: its stages may change freely.
      {
        name: 'trial',
        stages: [
          { name: 'signed_up', event_types: ['sign_up'] },
          { name: 'started', event_types: ['trial_start'] },
        ],
      },
    ]);
    const moved = await track('a', 'repeat_purchase');
    expect(moved.body.funnel_updates).toEqual([
      { funnel: 'default', stage: 'repeat', previous_stage: 'customer', advanced: true },
    ]);
  });

  it('lets stages nobody reached go (a release rolled back), but not one a subject stands at or beyond', async () => {
    const promo = (...names: string[]) => ({
      name: 'promo',
      stages: names.map((name) => ({ name, event_types: [`${name}_event`] })),
    });
    await startWith([{ name: 'default', stages: WITH_REPEAT }, promo('seen', 'clicked', 'bought')]);
    await track('p', 'seen_event');
    await startWith([{ name: 'default', stages: WITH_REPEAT }, promo('seen', 'clicked')]);
    await app!.close();
    app = undefined;
    const file = await funnelsFile([{ name: 'default', stages: WITH_REPEAT }, promo('clicked')]);
    await expect(createTestApp(db.url, { FUNNELS_FILE: file })).rejects.toThrow(
      /funnel "promo": "seen" \(position 1\) is gone, "clicked" moved from position 2 to 1/,
    );
  });
});
