import { Migration } from '@mikro-orm/migrations';

export class Migration20261129084218 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "funnel_stages" ("funnel" text not null, "stage" text not null, "stage_index" int not null, constraint "funnel_stages_pkey" primary key ("funnel", "stage"));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "funnel_stages" cascade;`);
  }

}
