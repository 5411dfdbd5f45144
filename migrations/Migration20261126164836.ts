import { Migration } from '@mikro-orm/migrations';

export class Migration20261126164836 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "reconciliation_runs" ("id" uuid not null default gen_random_uuid(), "trigger" text not null, "scheduled_for" timestamptz null, "start_date" date not null, "end_date" date not null, "status" text not null, "attempts" int not null default 1, "started_at" timestamptz not null default now(), "finished_at" timestamptz null, "report" jsonb null, "error" jsonb null, constraint "reconciliation_runs_pkey" primary key ("id"));`);
    this.addSql(`alter table "reconciliation_runs" add constraint "reconciliation_runs_scheduled_for_unique" unique ("scheduled_for");`);
    this.addSql(`create index "reconciliation_runs_started_index" on "reconciliation_runs" ("started_at", "id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "reconciliation_runs" cascade;`);
  }

}
