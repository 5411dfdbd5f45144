import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEvent } from './support/event-factory';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

const KEY = 'stages-key-0123456789abcdef';
/** The event type that reaches each stage these tests name. */
const EVENT_TYPE: Record<string, string> = {
  visit: 'page_view',
  lead: 'generate_lead',
  signup: 'sign_up',
  customer: 'purchase',
  engaged: 'scroll',
  loyal: 'repeat_purchase',
};

/**
 * FUNNELS_FILE changes between starts: stored progress keeps naming the stage it reached,
 * renumbered to the stage's new position, rather than reading as whichever stage now sits
 * at its old one.
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

  /** Restarts on a FUNNELS_FILE whose "default" funnel has these stages, in this order. */
  const startWith = async (names: string[]) => {
    await app?.close();
    const stages = names.map((name) => ({ name, event_types: [EVENT_TYPE[name]] }));
    const file = join(await mkdtemp(join(tmpdir(), 'ct-stages-')), 'funnels.json');
    await writeFile(file, JSON.stringify({ funnels: [{ name: 'default', stages }] }));
    app = await createTestApp(db.url, { API_KEYS: KEY, FUNNELS_FILE: file });
  };
  const track = (visitor: string, eventType: string) =>
    request(app!.getHttpServer())
      .post('/v1/events/track')
      .send(anEvent({ visitor_id: visitor, event_type: eventType, value: undefined }))
      .expect(200);
  const progress = async () =>
    (
      await db.pool.query<{ subject_id: string; stage: string; stage_index: number }>(
        'SELECT subject_id, stage, stage_index FROM funnel_progress ORDER BY subject_id',
      )
    ).rows;
  const reached = async (visitor: string) =>
    (
      await db.pool.query<{ stage: string; stage_index: number }>(
        'SELECT stage, stage_index FROM funnel_stage_reached WHERE subject_id = $1 ORDER BY stage_index',
        [visitor],
      )
    ).rows;

  it('renumbers stored progress when a stage is added and another removed', async () => {
    await startWith(['visit', 'lead', 'signup', 'customer']);
    for (const type of ['page_view', 'generate_lead', 'sign_up', 'purchase'])
      await track('a', type);
    for (const type of ['page_view', 'generate_lead']) await track('b', type);

    await startWith(['visit', 'engaged', 'signup', 'customer']);
    expect(await progress()).toEqual([
      { subject_id: 'a', stage: 'customer', stage_index: 3 },
      // Its stage is gone: back to the furthest it reached that is still there.
      { subject_id: 'b', stage: 'visit', stage_index: 0 },
    ]);
    expect(await reached('a')).toEqual([
      { stage: 'visit', stage_index: 0 },
      { stage: 'signup', stage_index: 2 },
      { stage: 'customer', stage_index: 3 },
    ]);
    // A customer stays one; the other moves on from where it now stands.
    const again = await track('a', 'purchase');
    expect(again.body.funnel_updates).toEqual([
      { funnel: 'default', stage: 'customer', previous_stage: 'customer', advanced: false },
    ]);
    const next = await track('b', 'sign_up');
    expect(next.body.funnel_updates).toEqual([
      { funnel: 'default', stage: 'signup', previous_stage: 'visit', advanced: true },
    ]);
    const today = new Date().toISOString().slice(0, 10);
    const report = await request(app!.getHttpServer())
      .get(`/v1/funnels/default?start_date=${today}&end_date=${today}`)
      .set('X-API-Key', KEY)
      .expect(200);
    expect(
      report.body.stages.map((stage: { stage: string; subjects: number }) => [
        stage.stage,
        stage.subjects,
      ]),
    ).toEqual([
      ['visit', 2],
      ['engaged', 2],
      ['signup', 2],
      ['customer', 1],
    ]);
  });

  it('follows stages put in another order, each subject at the furthest it reached', async () => {
    await startWith(['visit', 'customer', 'signup', 'engaged']);
    // a reached visit, signup and customer: signup is now the furthest of them.
    expect(await progress()).toEqual([
      { subject_id: 'a', stage: 'signup', stage_index: 2 },
      { subject_id: 'b', stage: 'signup', stage_index: 2 },
    ]);
  });

  it('records stages added at the end, and lets one nobody reached go again', async () => {
    const stages = ['visit', 'engaged', 'signup', 'customer'];
    await startWith([...stages, 'loyal']);
    const before = await progress();
    // Rolled back: nobody reached "loyal", so nothing stored changes.
    await startWith(stages);
    expect(await progress()).toEqual(before);
    const moved = await track('c', 'scroll');
    expect(moved.body.funnel_updates).toEqual([
      { funnel: 'default', stage: 'engaged', previous_stage: null, advanced: true },
    ]);
  });

  it('counts a subject as entering when it first reached a stage that is still there', async () => {
    await request(app!.getHttpServer())
      .post('/v1/events/track')
      .send(
        anEvent({
          visitor_id: 'e',
          event_type: 'page_view',
          value: undefined,
          occurred_at: new Date(Date.now() - 2 * 86_400_000).toISOString(),
        }),
      )
      .expect(200);
    await track('e', 'scroll');
    await startWith(['engaged', 'signup', 'customer']);
    const { rows } = await db.pool.query<{ stage: string; hours: number }>(
      `SELECT stage, extract(epoch FROM now() - entered_at) / 3600 AS hours
       FROM funnel_progress WHERE subject_id = 'e'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].stage).toBe('engaged');
    expect(Number(rows[0].hours)).toBeLessThan(1);
  });
});
