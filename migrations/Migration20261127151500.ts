import { Migration } from '@mikro-orm/migrations';

/**
 * The rollup's unique key holds hashes of source, medium and campaign instead of the
 * texts: three 256-character values of 4-byte characters made an index row over
 * PostgreSQL's btree limit (2,704 bytes), so one public event stopped the rollup.
 */
export class Migration20261127151500 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`drop index "attribution_daily_key";`);
    this.addSql(
      `create unique index "attribution_daily_key" on "attribution_daily" ("model", "day", "event_type", md5("source"), md5("medium"), md5("campaign"), "currency") nulls not distinct;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "attribution_daily_key";`);
    this.addSql(
      `create unique index "attribution_daily_key" on "attribution_daily" ("model", "day", "event_type", "source", "medium", "campaign", "currency") nulls not distinct;`,
    );
  }
}
