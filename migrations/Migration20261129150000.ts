import { Migration } from '@mikro-orm/migrations';

/**
 * Monthly partitions are UTC months whatever the session's `TimeZone`.
 *
 * `ensure_event_partitions` added a month to its start in the session's zone, which the
 * service never sets: on a server, database or role whose zone is not UTC, every bound
 * after the first drifted by the zone's offset, months went missing, and retention (which
 * reads a partition's month from its name) dropped events younger than
 * EVENT_RETENTION_DAYS. The function now works in UTC, and partitions whose bounds are
 * not their name's UTC month are taken out, remade as that month, and their rows put
 * back through `events`, so each lands in its own month's partition. On a database that
 * had drifted, that moves every row of those months while `events` is held: run it in a
 * maintenance window there (on a UTC database it only reads the catalog).
 */
export class Migration20261129150000 extends Migration {

  override async up(): Promise<void> {
    this.addSql(ensureEventPartitions("((month_start at time zone 'UTC') + interval '1 month') at time zone 'UTC'", "set timezone = 'UTC'"));

    this.addSql(`
do $$
declare
  part record;
  month_start timestamptz;
  earliest timestamptz;
  latest timestamptz;
  misaligned text[] := '{}';
  detached text;
begin
  -- Every partition first, so the remade months overlap none still attached.
  for part in
    select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'events'::regclass and c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'
  loop
    month_start := to_date(substr(part.name, 8), 'YYYY_MM')::timestamp at time zone 'UTC';
    if substring(part.bound from $re$FROM \\('([^']+)'\\)$re$)::timestamptz is distinct from month_start
       or substring(part.bound from $re$TO \\('([^']+)'\\)$re$)::timestamptz
          is distinct from ((month_start at time zone 'UTC') + interval '1 month') at time zone 'UTC' then
      execute format('alter table events detach partition %I', part.name);
      execute format('alter table %I rename to %I', part.name, 'misaligned_' || part.name);
      misaligned := misaligned || ('misaligned_' || part.name);
    end if;
  end loop;

  foreach detached in array misaligned loop
    month_start := to_date(substr(detached, 19), 'YYYY_MM')::timestamp at time zone 'UTC';
    perform ensure_event_partitions(month_start, month_start);
    execute format('select min(occurred_at), max(occurred_at) from %I', detached) into earliest, latest;
    if earliest is not null then
      perform ensure_event_partitions(earliest, latest);
    end if;
    execute format('insert into events select * from %I', detached);
    execute format('drop table %I', detached);
  end loop;

  -- Months the drift skipped: their events went to the default partition.
  perform ensure_event_partitions(min(occurred_at), max(occurred_at)) from events_default having count(*) > 0;
end $$;`);
  }

  override async down(): Promise<void> {
    // The bounds repaired stay repaired: only the function goes back.
    this.addSql(ensureEventPartitions("month_start + interval '1 month'", ''));
  }

}

/** The partitioning migration's function, with `month_end` computed by `nextMonth`. */
function ensureEventPartitions(nextMonth: string, settings: string): string {
  return `
create or replace function "ensure_event_partitions"(from_time timestamptz, to_time timestamptz) returns int
language plpgsql ${settings} as $$
declare
  month_start timestamptz := date_trunc('month', from_time at time zone 'UTC') at time zone 'UTC';
  month_end timestamptz;
  partition_name text;
  created int := 0;
begin
  while month_start <= to_time loop
    month_end := ${nextMonth};
    partition_name := 'events_' || to_char(month_start at time zone 'UTC', 'YYYY_MM');
    if to_regclass(format('%I', partition_name)) is null then
      if exists (select 1 from events_default where occurred_at >= month_start and occurred_at < month_end) then
        alter table events detach partition events_default;
        execute format('create table %I (like events including defaults)', partition_name);
        execute format('insert into %I select * from events_default where occurred_at >= %L and occurred_at < %L', partition_name, month_start, month_end);
        delete from events_default where occurred_at >= month_start and occurred_at < month_end;
        execute format('alter table events attach partition %I for values from (%L) to (%L)', partition_name, month_start, month_end);
        alter table events attach partition events_default default;
      else
        execute format('create table %I partition of events for values from (%L) to (%L)', partition_name, month_start, month_end);
      end if;
      created := created + 1;
    end if;
    month_start := month_end;
  end loop;
  return created;
end $$;`;
}
