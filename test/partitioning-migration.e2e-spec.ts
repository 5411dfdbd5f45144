import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationOrm } from './support/migration-orm';
import { TestDatabase, createTestDatabase } from './support/test-database';

const PARTITIONING = 'Migration20261126202845';
const BEFORE_PARTITIONING = 'Migration20261126164836';

/** The migration that partitions `events` keeps every existing row, both ways. */
describe(`${PARTITIONING} on a database with events`, () => {
  let db: TestDatabase;
  let orm: MikroORM;
  const count = async (sql: string) => (await db.pool.query<{ n: number }>(sql)).rows[0].n;

  beforeAll(async () => {
    db = await createTestDatabase();
    // The clone is fully migrated: take it back to before partitioning first.
    orm = await migrationOrm(db.url);
    await orm.getMigrator().down({ to: BEFORE_PARTITIONING });
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it('copies the events into monthly partitions and claims their keys, and back', async () => {
    await db.pool.query(
      `INSERT INTO events (event_id, event_type, occurred_at, source, medium, channel, is_bot)
       SELECT 'e' || g, 'purchase', now() - g * interval '1 day', 's', 'm', 'direct', false
       FROM generate_series(1, 120) g`,
    );
    await orm.getMigrator().up({ to: PARTITIONING });
    expect(await count('SELECT count(*)::int AS n FROM events')).toBe(120);
    expect(await count('SELECT count(*)::int AS n FROM event_ids')).toBe(120);
    expect(await count('SELECT count(*)::int AS n FROM events_default')).toBe(0);
    // 120 days back reach into at least four months, each its own partition.
    expect(
      await count('SELECT count(DISTINCT tableoid)::int AS n FROM events'),
    ).toBeGreaterThanOrEqual(4);

    await orm.getMigrator().down({ to: BEFORE_PARTITIONING });
    expect(await count('SELECT count(*)::int AS n FROM events')).toBe(120);
    const { rows } = await db.pool.query(
      "SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'events_event_id_unique'",
    );
    expect(rows[0].n).toBe(1);
    await orm.getMigrator().up({ to: PARTITIONING });
    expect(await count('SELECT count(*)::int AS n FROM events')).toBe(120);
  });
});
