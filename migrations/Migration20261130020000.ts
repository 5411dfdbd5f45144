import { Migration } from '@mikro-orm/migrations';

/**
 * `ensure_event_partitions` no longer moves a month's events out of the default
 * partition itself: it detached the default partition for the copy, which held all of
 * `events`, tracking included, for as long as the month's rows took to copy. A month with
 * rows in the default partition is now skipped here and moved by the service in short
 * steps that leave tracking alone (`EventPartitionsRepository`).
 */
export class Migration20261130020000 extends Migration {

  override async up(): Promise<void> {
    this.addSql(ensureEventPartitions(`
      -- A month with events in the default partition is left to the service's move.
      if not exists (select 1 from events_default where occurred_at >= month_start and occurred_at < month_end) then
        execute format('create table %I partition of events for values from (%L) to (%L)', partition_name, month_start, month_end);
        created := created + 1;
      end if;`));
  }

  override async down(): Promise<void> {
    this.addSql(ensureEventPartitions(`
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
      created := created + 1;`));
  }

}

/** The function of Migration20261129150000, with `createMonth` making a missing month. */
function ensureEventPartitions(createMonth: string): string {
  return `
create or replace function "ensure_event_partitions"(from_time timestamptz, to_time timestamptz) returns int
language plpgsql set timezone = 'UTC' as $$
declare
  month_start timestamptz := date_trunc('month', from_time at time zone 'UTC') at time zone 'UTC';
  month_end timestamptz;
  partition_name text;
  created int := 0;
begin
  while month_start <= to_time loop
    month_end := ((month_start at time zone 'UTC') + interval '1 month') at time zone 'UTC';
    partition_name := 'events_' || to_char(month_start at time zone 'UTC', 'YYYY_MM');
    if to_regclass(format('%I', partition_name)) is null then${createMonth}
    end if;
    month_start := month_end;
  end loop;
  return created;
end $$;`;
}
