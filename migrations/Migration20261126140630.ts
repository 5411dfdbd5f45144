import { Migration } from '@mikro-orm/migrations';

export class Migration20261126140630 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "identity_links" ("visitor_id" text not null, "user_id" text not null, "linked_at" timestamptz not null default now(), constraint "identity_links_pkey" primary key ("visitor_id", "user_id"));`);
    this.addSql(`create index "identity_links_user_id_index" on "identity_links" ("user_id");`);

    this.addSql(`create table "events" ("id" uuid not null default gen_random_uuid(), "event_id" text not null, "event_type" text not null, "visitor_id" text null, "user_id" text null, "session_id" text null, "occurred_at" timestamptz not null, "received_at" timestamptz not null default now(), "utm_source" text null, "utm_medium" text null, "utm_campaign" text null, "utm_term" text null, "utm_content" text null, "gclid" text null, "fbclid" text null, "msclkid" text null, "page_url" text null, "referrer" text null, "value" numeric null, "currency" char(3) null, "properties" jsonb null, "source" text not null, "medium" text not null, "campaign" text null, "channel" text not null, "user_agent" text null, "is_bot" boolean not null, "origin" text null, "ip_prefix" text null, constraint "events_pkey" primary key ("id"));`);
    this.addSql(`alter table "events" add constraint "events_event_id_unique" unique ("event_id");`);
    this.addSql(`create index "events_occurred_at_brin" on "events" using brin ("occurred_at");`);
  }

}
