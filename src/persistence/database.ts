import { Injectable } from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';

/** Runs SQL either on its own (autocommit) or inside a transaction: repositories take either. */
export interface Sql {
  query<T extends object>(sql: string, params?: unknown[]): Promise<T[]>;
}

/**
 * Plain SQL over the shared MikroORM connection, for the write paths where one
 * hand-written statement beats an entity flush (the track hot path, locked upserts).
 */
@Injectable()
export class Database implements Sql {
  constructor(private readonly em: EntityManager) {}

  query<T extends object>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.em.getConnection().execute<T[]>(sql, params, 'all');
  }

  /** Commits when `work` resolves, rolls back when it throws. */
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    const connection = this.em.getConnection();
    return connection.transactional((trx) =>
      work({
        query: <R extends object>(sql: string, params: unknown[] = []) =>
          connection.execute<R[]>(sql, params, 'all', trx),
      }),
    );
  }
}
