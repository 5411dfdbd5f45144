import { Migration } from '@mikro-orm/migrations';

/**
 * `events` becomes a table partitioned by month of `occurred_at` (UTC months), with a
 * default partition as a safety net so an insert never fails for want of a partition.
 * A partitioned table's unique keys must hold the partition key, so `event_id`'s
 * uniqueness moves to `event_ids`, claimed by the track statement before the insert.
 * Existing rows are copied into monthly partitions (the table is locked meanwhile:
 * on a large table, run it in a maintenance window).
 */
export class Migration20261126202845 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "event_ids" ("event_id" text not null, "occurred_at" timestamptz not null, constraint "event_ids_pkey" primary key ("event_id"));`);
    this.addSql(`create index "event_ids_occurred_at_brin" on "event_ids" using brin ("occurred_at");`);

    this.addSql(`alter table "events" rename to "events_unpartitioned";`);
    this.addSql(`alter table "events_unpartitioned" rename constraint "events_pkey" to "events_unpartitioned_pkey";`);
    this.addSql(`alter table "events_unpartitioned" drop constraint "events_event_id_unique";`);
    this.addSql(`drop index "events_occurred_at_brin";`);
    this.addSql(`drop index "events_user_occurred_index";`);
    this.addSql(`drop index "events_anonymous_visitor_occurred_index";`);

    this.addSql(`create table "events" (like "events_unpartitioned" including defaults, constraint "events_pkey" primary key ("id", "occurred_at")) partition by range ("occurred_at");`);
    this.addSql(`create index "events_occurred_at_brin" on "events" using brin ("occurred_at");`);
    this.addSql(`create index "events_user_occurred_index" on "events" ("user_id", "occurred_at") where "user_id" is not null;`);
    this.addSql(`create index "events_anonymous_visitor_occurred_index" on "events" ("visitor_id", "occurred_at") where "user_id" is null;`);
    this.addSql(`create table "events_default" partition of "events" default;`);

    // Creates the monthly partitions covering [first, last] that are missing, named
    // events_YYYY_MM. Rows of such a month already in the default partition (events
    // from before the partition existed) move into it in the same transaction.
    this.addSql(`
create function "ensure_event_partitions"(from_time timestamptz, to_time timestamptz) returns int
language plpgsql as $$
declare
  month_start timestamptz := date_trunc('month', from_time at time zone 'UTC') at time zone 'UTC';
  month_end timestamptz;
  partition_name text;
  created int := 0;
begin
  while month_start <= to_time loop
    month_end := month_start + interval '1 month';
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
end $$;`);

    this.addSql(`select ensure_event_partitions(coalesce((select min(occurred_at) from events_unpartitioned), now()), now() + interval '3 months');`);
    this.addSql(`insert into events select * from events_unpartitioned;`);
    this.addSql(`insert into event_ids (event_id, occurred_at) select event_id, occurred_at from events_unpartitioned;`);
    this.addSql(`drop table events_unpartitioned;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function "ensure_event_partitions"(timestamptz, timestamptz);`);
    this.addSql(`alter table "events" rename to "events_partitioned";`);
    this.addSql(`alter table "events_partitioned" rename constraint "events_pkey" to "events_partitioned_pkey";`);
    this.addSql(`drop index "events_occurred_at_brin";`);
    this.addSql(`drop index "events_user_occurred_index";`);
    this.addSql(`drop index "events_anonymous_visitor_occurred_index";`);
    this.addSql(`create table "events" (like "events_partitioned" including defaults, constraint "events_pkey" primary key ("id"), constraint "events_event_id_unique" unique ("event_id"));`);
    this.addSql(`insert into events select * from events_partitioned;`);
    this.addSql(`drop table "events_partitioned" cascade;`);
    this.addSql(`drop table "event_ids" cascade;`);
    this.addSql(`create index "events_occurred_at_brin" on "events" using brin ("occurred_at");`);
    this.addSql(`create index "events_user_occurred_index" on "events" ("user_id", "occurred_at") where "user_id" is not null;`);
    this.addSql(`create index "events_anonymous_visitor_occurred_index" on "events" ("visitor_id", "occurred_at") where "user_id" is null;`);
  }

}
