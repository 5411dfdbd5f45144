import { Migration } from '@mikro-orm/migrations';

export class Migration20261127001456 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "funnel_link_merges" ("visitor_id" text not null, "user_id" text not null, constraint "funnel_link_merges_pkey" primary key ("visitor_id", "user_id"));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "funnel_link_merges" cascade;`);
  }

}
