import { Migration } from '@mikro-orm/migrations';

export class Migration20261126163320 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "attribution_daily" ("id" bigserial primary key, "model" text not null, "day" date not null, "event_type" text not null, "source" text not null, "medium" text not null, "campaign" text null, "currency" char(3) null, "conversions" bigint not null, "value_micros" numeric not null, "valued" int not null);`);
    this.addSql(`create unique index "attribution_daily_key" on "attribution_daily" ("model", "day", "event_type", "source", "medium", "campaign", "currency") nulls not distinct;`);

    this.addSql(`create table "attribution_marks" ("seq" bigserial primary key, "kind" text not null, "identity" text not null, "since" timestamptz not null);`);

    this.addSql(`create table "attribution_state" ("id" int not null, "fingerprint" text not null, constraint "attribution_state_pkey" primary key ("id"));`);

    this.addSql(`create table "conversion_credits" ("event_id" uuid not null, "credits" jsonb not null, constraint "conversion_credits_pkey" primary key ("event_id"));`);

    this.addSql(`create index "events_anonymous_visitor_occurred_index" on "events" ("visitor_id", "occurred_at") where "user_id" is null;`);
    this.addSql(`create index "events_user_occurred_index" on "events" ("user_id", "occurred_at") where "user_id" is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "attribution_daily" cascade;`);

    this.addSql(`drop table if exists "attribution_marks" cascade;`);

    this.addSql(`drop table if exists "attribution_state" cascade;`);

    this.addSql(`drop table if exists "conversion_credits" cascade;`);

    this.addSql(`drop index "events_anonymous_visitor_occurred_index";`);
    this.addSql(`drop index "events_user_occurred_index";`);
  }

}
