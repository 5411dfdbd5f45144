import { Migration } from '@mikro-orm/migrations';

/**
 * A scheduled run's claim is a lease: committed before GA4 is asked, held by one replica
 * until `lease_until` unless renewed, so no transaction stays open while GA4 answers and
 * a run whose replica died is taken over once its lease lapses.
 */
export class Migration20261128050000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "reconciliation_runs" add column "lease_owner" uuid null, add column "lease_until" timestamptz null;`,
    );
    this.addSql(
      `create index "reconciliation_runs_lease_index" on "reconciliation_runs" ("lease_until") where "status" = 'running';`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "reconciliation_runs_lease_index";`);
    this.addSql(
      `alter table "reconciliation_runs" drop column "lease_owner", drop column "lease_until";`,
    );
  }
}
