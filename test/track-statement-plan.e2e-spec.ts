import { describe, expect, it } from 'vitest';
import { Database } from '../src/persistence/database';
import { TRACK_EVENTS } from '../src/tracking/event.repository';
import { useAppFixture } from './support/app-fixture';

describe('the group-commit statement’s plan', () => {
  const fixture = useAppFixture();

  // A prepared statement keeps the generic plan made on its first runs, when the tables may
  // be nearly empty and a scan looks cheapest; it must still find rows by their keys once
  // they hold millions. The bench showed a 35% loss from two such scans.
  it('reads the funnel and identity tables by key, whatever their size when it was planned', async () => {
    const client = await fixture.db.pool.connect();
    try {
      await client.query('SET plan_cache_mode = force_generic_plan');
      await client.query(`PREPARE track_plan(json) AS ${TRACK_EVENTS.text}`);
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN EXECUTE track_plan('[]')`,
      );
      const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
      expect(plan).toContain('funnel_stage_reached');
      expect(plan).not.toMatch(/Seq Scan on (funnel_\w+|identity_links|event_ids|events\w*)/);
    } finally {
      await client.query('DEALLOCATE ALL');
      client.release();
    }
  });

  // That generic plan is costed for any group size (json_to_recordset counts as 100 rows):
  // once the funnel tables are large its cost passes jit_above_cost, and a server with JIT
  // compiled the statement on every call, ~200 ms each, tens of times slower than running it.
  it('runs in sessions with JIT off', async () => {
    const [row] = await fixture.app
      .get(Database)
      .query<{ jit: string }>("SELECT current_setting('jit') AS jit");
    expect(row.jit).toBe('off');
  });
});
