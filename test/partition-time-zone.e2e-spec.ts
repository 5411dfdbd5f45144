import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationOrm } from './support/migration-orm';
import { TestDatabase, createTestDatabase } from './support/test-database';

const UTC_MONTHS = 'Migration20261129150000';
const BEFORE = 'Migration20261129084218';
const ZONE = 'America/New_York';

/** Monthly partitions of `events`, with their bounds read as instants. */
const PARTITIONS = `
  SELECT c.relname AS name,
         to_date(substr(c.relname, 8), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC' AS month_start,
         (to_date(substr(c.relname, 8), 'YYYY_MM') + interval '1 month') AT TIME ZONE 'UTC' AS month_end,
         substring(pg_get_expr(c.relpartbound, c.oid) FROM $re$FROM \\('([^']+)'\\)$re$)::timestamptz AS lower,
         substring(pg_get_expr(c.relpartbound, c.oid) FROM $re$TO \\('([^']+)'\\)$re$)::timestamptz AS upper
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'
  ORDER BY c.relname`;

interface Partition {
  name: string;
  month_start: Date;
  month_end: Date;
  lower: Date;
  upper: Date;
}

const misaligned = (partitions: Partition[]) =>
  partitions
    .filter((p) => +p.lower !== +p.month_start || +p.upper !== +p.month_end)
    .map((p) => p.name);

/** A database whose time zone is not UTC: monthly partitions must still be UTC months. */
describe(`${UTC_MONTHS} on a database in ${ZONE}`, () => {
  let db: TestDatabase;
  let orm: MikroORM;
  const partitions = async () => (await db.pool.query<Partition>(PARTITIONS)).rows;
  /** Creates partitions in a session of the database's own zone (the ORM's connections). */
  const ensure = (from: string, to: string) =>
    orm.em.getConnection().execute(`SELECT ensure_event_partitions('${from}', '${to}')`);

  beforeAll(async () => {
    db = await createTestDatabase();
    const name = new URL(db.url).pathname.slice(1);
    await db.pool.query(`ALTER DATABASE ${name} SET timezone = '${ZONE}'`);
    orm = await migrationOrm(db.url);
    await orm.getMigrator().down({ to: BEFORE });
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it('remakes drifted partitions as UTC months, each event in its own month', async () => {
    // What the earlier function made in this zone: bounds off by the offset, months skipped.
    await ensure('2031-01-15T00:00:00Z', '2031-06-15T00:00:00Z');
    expect(misaligned(await partitions())).not.toEqual([]);
    const instants = [
      '2031-01-31T23:30:00Z',
      '2031-02-01T00:00:00Z',
      '2031-02-15T12:00:00Z',
      '2031-03-31T22:00:00Z',
      '2031-04-01T03:00:00Z',
      '2031-05-31T23:59:59.999Z',
    ];
    await db.pool.query(
      `INSERT INTO events (event_id, event_type, occurred_at, source, medium, channel, is_bot)
       SELECT 'tz-' || n, 'purchase', t, 's', 'm', 'direct', false
       FROM unnest($1::timestamptz[]) WITH ORDINALITY AS u(t, n)`,
      [instants],
    );

    await orm.getMigrator().up({ to: UTC_MONTHS });

    expect(misaligned(await partitions())).toEqual([]);
    const { rows } = await db.pool.query<{ event_id: string; placed: string; month: string }>(
      `SELECT event_id, tableoid::regclass::text AS placed,
              'events_' || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY_MM') AS month
       FROM events WHERE event_id LIKE 'tz-%' ORDER BY event_id`,
    );
    expect(rows).toHaveLength(instants.length);
    for (const row of rows) expect(row.placed, row.event_id).toBe(row.month);
    const { rows: leftovers } = await db.pool.query(
      `SELECT relname FROM pg_class WHERE relname LIKE 'misaligned_%'`,
    );
    expect(leftovers).toEqual([]);
  });

  it('makes UTC months from now on, whatever the session’s zone', async () => {
    await ensure('2033-01-01T00:00:00Z', '2033-12-31T00:00:00Z');
    const made = (await partitions()).filter((p) => p.name.startsWith('events_2033_'));
    expect(made.map((p) => p.name)).toEqual(
      Array.from({ length: 12 }, (_, i) => `events_2033_${String(i + 1).padStart(2, '0')}`),
    );
    expect(misaligned(made)).toEqual([]);
  });
});
