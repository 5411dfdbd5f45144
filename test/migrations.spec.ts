import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationsList } from '../migrations';
import { notApplied } from '../src/persistence/migrate';

describe('migrations/index.ts', () => {
  it('lists every migration file, in order', () => {
    const files = readdirSync(join(__dirname, '..', 'migrations'))
      .filter((file) => /^Migration\d+\.ts$/.test(file))
      .map((file) => file.replace(/\.ts$/, ''))
      .sort();
    expect(migrationsList.map((migration) => migration.name)).toEqual(files);
  });
});

describe('notApplied', () => {
  const names = migrationsList.map((migration) => migration.name);

  it('lists what the database lacks, in order, reading names as MikroORM does (with or without an extension)', () => {
    expect(notApplied([])).toEqual(names);
    expect(notApplied(names.map((name) => ({ name })))).toEqual([]);
    const [first, second, ...rest] = names;
    expect(
      notApplied([{ name: `${first}.js` }, ...rest.map((name) => ({ name: `${name}.ts` }))]),
    ).toEqual([second]);
  });
});
