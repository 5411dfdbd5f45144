import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sql } from '../src/persistence/database';
import {
  AttributionRefreshRepository,
  RollupDelta,
} from '../src/reporting/rollup/attribution-refresh.repository';
import { TestDatabase, createTestDatabase } from './support/test-database';

describe('the rollup keeps a row while it holds credit or value', () => {
  let db: TestDatabase;
  // The repository's statements use knex's `?` placeholders; pg wants `$n`.
  const sql: Sql = {
    query: async <T extends object>(text: string, params: unknown[] = []) => {
      let n = 0;
      return (
        await db.pool.query(
          text.replace(/\?/g, () => `$${++n}`),
          params,
        )
      ).rows as T[];
    },
  };
  const repository = new AttributionRefreshRepository();
  const delta = (conversions: string, value_micros: string, valued: number): RollupDelta => ({
    model: 'time_decay',
    day: '2026-11-20',
    event_type: 'purchase',
    source: 'old-campaign',
    medium: 'cpc',
    campaign: null,
    currency: 'EUR',
    conversions,
    value_micros,
    valued,
  });
  const rows = async () =>
    (
      await db.pool.query<{ conversions: string; value_micros: string }>(
        'SELECT conversions::text, value_micros::text FROM attribution_daily',
      )
    ).rows;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('keeps a part of a value whose credit rounds to 0 millionths, drops the row once both are gone', async () => {
    // A touchpoint 29 days old among tens of thousands at the conversion: 0 millionths of
    // the conversion under time decay, but 94 millionths of its 100 EUR.
    await repository.applyDeltas(sql, [delta('0', '94', 1)]);
    expect(await rows()).toEqual([{ conversions: '0', value_micros: '94' }]);
    await repository.applyDeltas(sql, [delta('0', '-94', -1)]);
    expect(await rows()).toEqual([]);
  });
});
