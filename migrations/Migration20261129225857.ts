import { Migration } from '@mikro-orm/migrations';

/**
 * Where EVENT_RETENTION_DAYS has got to in the state derived from events (funnel state,
 * identity links, explicit funnel updates): a replica starting later skips a walk of those
 * tables that another has finished.
 */
export class Migration20261129225857 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "retention_state" ("id" int not null, "derived_pruned_before" timestamptz not null, constraint "retention_state_pkey" primary key ("id"));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "retention_state" cascade;`);
  }

}
