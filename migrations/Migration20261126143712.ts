import { Migration } from '@mikro-orm/migrations';

export class Migration20261126143712 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "funnel_progress" ("funnel" text not null, "subject_type" text not null, "subject_id" text not null, "stage_index" int not null, "stage" text not null, "entered_at" timestamptz not null, "updated_at" timestamptz not null default now(), constraint "funnel_progress_pkey" primary key ("funnel", "subject_type", "subject_id"));`);
    this.addSql(`create index "funnel_progress_entered_index" on "funnel_progress" ("funnel", "entered_at");`);

    this.addSql(`create table "funnel_stage_reached" ("funnel" text not null, "subject_type" text not null, "subject_id" text not null, "stage" text not null, "stage_index" int not null, "reached_at" timestamptz not null, "event_id" text not null, constraint "funnel_stage_reached_pkey" primary key ("funnel", "subject_type", "subject_id", "stage"));`);

    this.addSql(`create table "funnel_transitions" ("id" bigserial primary key, "funnel" text not null, "subject_type" text not null, "subject_id" text not null, "from_stage" text null, "to_stage" text not null, "cause_event_id" text not null, "cause_event_type" text null, "occurred_at" timestamptz not null, "recorded_at" timestamptz not null default now());`);
    this.addSql(`create index "funnel_transitions_subject_index" on "funnel_transitions" ("funnel", "subject_type", "subject_id");`);

    this.addSql(`create table "funnel_update_requests" ("event_id" text not null, "funnel" text not null, "stage" text not null, "previous_stage" text null, "advanced" boolean not null, "properties" jsonb null, "created_at" timestamptz not null default now(), constraint "funnel_update_requests_pkey" primary key ("event_id"));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "funnel_progress" cascade;`);

    this.addSql(`drop table if exists "funnel_stage_reached" cascade;`);

    this.addSql(`drop table if exists "funnel_transitions" cascade;`);

    this.addSql(`drop table if exists "funnel_update_requests" cascade;`);
  }

}
