import { Migration } from '@mikro-orm/migrations';

export class Migration20261126150557 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "funnel_progress" add column "previous_stage" text null;`);
    this.addSql(`create index "funnel_progress_subject_index" on "funnel_progress" ("subject_type", "subject_id");`);

    this.addSql(`create index "funnel_stage_reached_subject_index" on "funnel_stage_reached" ("subject_type", "subject_id");`);

    this.addSql(`drop index "funnel_transitions_subject_index";`);

    this.addSql(`create index "funnel_transitions_subject_index" on "funnel_transitions" ("subject_type", "subject_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "funnel_progress_subject_index";`);
    this.addSql(`alter table "funnel_progress" drop column "previous_stage";`);

    this.addSql(`drop index "funnel_stage_reached_subject_index";`);

    this.addSql(`drop index "funnel_transitions_subject_index";`);

    this.addSql(`create index "funnel_transitions_subject_index" on "funnel_transitions" ("funnel", "subject_type", "subject_id");`);
  }

}
