import { Migration } from '@mikro-orm/migrations';

/**
 * Runs left `running` by a version before leases (a command killed mid-run) have no
 * `lease_until`, so nothing ever read them as lapsed. They get one from now: an hour for
 * a run a replica of the older version may still be finishing during a rolling deploy;
 * after it they read, and are stored, as interrupted like any lapsed run.
 */
export class Migration20261128160000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `update "reconciliation_runs" set "lease_until" = clock_timestamp() + interval '1 hour' where "status" = 'running' and "lease_until" is null;`,
    );
  }

  // Nothing to undo: the older version ignores the column's value.
  override async down(): Promise<void> {}
}
