import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261126140630 } from './Migration20261126140630';
import { Migration20261126143712 } from './Migration20261126143712';
import { Migration20261126150557 } from './Migration20261126150557';
import { Migration20261126163320 } from './Migration20261126163320';
import { Migration20261126164836 } from './Migration20261126164836';
import { Migration20261126202845 } from './Migration20261126202845';
import { Migration20261127001456 } from './Migration20261127001456';
import { Migration20261127151500 } from './Migration20261127151500';
import { Migration20261128050000 } from './Migration20261128050000';
import { Migration20261128160000 } from './Migration20261128160000';
import { Migration20261129084218 } from './Migration20261129084218';
import { Migration20261129150000 } from './Migration20261129150000';
import { Migration20261129225857 } from './Migration20261129225857';
import { Migration20261130020000 } from './Migration20261130020000';

/**
 * Every migration, in order. Listed explicitly so that the compiled service, the test
 * runner and the CLI all run the same set without loading files by glob.
 * `npm run migration:create` writes a new file here: add it to this list
 * (a unit test fails when a file is missing from it).
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261126140630', class: Migration20261126140630 },
  { name: 'Migration20261126143712', class: Migration20261126143712 },
  { name: 'Migration20261126150557', class: Migration20261126150557 },
  { name: 'Migration20261126163320', class: Migration20261126163320 },
  { name: 'Migration20261126164836', class: Migration20261126164836 },
  { name: 'Migration20261126202845', class: Migration20261126202845 },
  { name: 'Migration20261127001456', class: Migration20261127001456 },
  { name: 'Migration20261127151500', class: Migration20261127151500 },
  { name: 'Migration20261128050000', class: Migration20261128050000 },
  { name: 'Migration20261128160000', class: Migration20261128160000 },
  { name: 'Migration20261129084218', class: Migration20261129084218 },
  { name: 'Migration20261129150000', class: Migration20261129150000 },
  { name: 'Migration20261129225857', class: Migration20261129225857 },
  { name: 'Migration20261130020000', class: Migration20261130020000 },
];
