import { MikroORM } from '@mikro-orm/postgresql';
import { ConnectableDatabase, createOrmOptions } from './orm-options';

/** Applies pending migrations and returns their names. */
export async function migrateDatabase(database: ConnectableDatabase): Promise<string[]> {
  const orm = await MikroORM.init({ ...createOrmOptions(database), pool: { min: 0, max: 1 } });
  try {
    const applied = await orm.getMigrator().up();
    return applied.map((migration) => migration.name);
  } finally {
    await orm.close(true);
  }
}
