import { MikroORM } from '@mikro-orm/postgresql';
import { loadConfig } from '../../src/config/app-config';
import { createOrmOptions } from '../../src/persistence/orm-options';

/**
 * The service's ORM on a test database, with one connection, for a test that takes the
 * migrations back to where its own begins and applies it to data made for it.
 */
export function migrationOrm(url: string): Promise<MikroORM> {
  const config = loadConfig({ DATABASE_URL: url });
  return MikroORM.init({
    ...createOrmOptions({ ...config.database, url }),
    pool: { min: 0, max: 1 },
  });
}
