import { EntityManager } from '@mikro-orm/postgresql';
import type { PoolClient, QueryConfig } from 'pg';

export interface PreparedStatement {
  /** Unique per statement text: PostgreSQL keeps one plan per name and connection. */
  name: string;
  text: string;
}

/** The part of knex's client used to borrow a driver connection from MikroORM's pool. */
interface KnexClient {
  acquireConnection(): Promise<PoolClient>;
  releaseConnection(connection: PoolClient): Promise<void>;
}

/** The longest a timer may wait: the driver's read timeout, in effect lifted. */
const NO_READ_TIMEOUT_MS = 2 ** 31 - 1;

/** Runs SQL either on its own (autocommit) or inside a transaction: repositories take either. */
export interface Sql {
  query<T extends object>(sql: string, params?: unknown[]): Promise<T[]>;
}

/**
 * Plain SQL over the shared MikroORM connection, for the write paths where one
 * hand-written statement beats an entity flush (the track hot path, locked upserts).
 */
export interface DatabaseOptions {
  /**
   * Named prepared statements live in one server session: behind a transaction-mode
   * pooler the next call may reach another session, so they are off there.
   */
  namedStatements: boolean;
}

export class Database implements Sql {
  constructor(
    private readonly em: EntityManager,
    private readonly options: DatabaseOptions,
  ) {}

  query<T extends object>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.em.getConnection().execute<T[]>(sql, params, 'all');
  }

  /**
   * The hot path: a named prepared statement on a pooled driver connection, so
   * PostgreSQL parses and plans it once per connection and no query builder runs per
   * call. `text` uses $1-style placeholders; arrays are sent as PostgreSQL arrays.
   * Behind a transaction pooler it is sent unnamed: parsed and planned on each call.
   */
  async prepared<T extends object>(statement: PreparedStatement, values: unknown[]): Promise<T[]> {
    const client = this.em.getConnection().getKnex().client as KnexClient;
    const connection = await client.acquireConnection();
    try {
      const result = await connection.query<T>({
        name: this.options.namedStatements ? statement.name : undefined,
        text: statement.text,
        values,
      });
      return result.rows;
    } finally {
      await client.releaseConnection(connection);
    }
  }

  /**
   * A transaction for work that reads whole tables (a rebuild of the attribution rollup),
   * which no time limit may cut short: PostgreSQL's statement timeout is lifted for it
   * (SET LOCAL, so safe behind a pooler), and so is the driver's read timeout, which a
   * transaction through MikroORM would keep. Commits when `work` resolves.
   */
  async longTransaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    const knex = this.em.getConnection().getKnex();
    const client = knex.client as KnexClient;
    const connection = await client.acquireConnection();
    const query = async <R extends object>(sql: string, params: unknown[] = []) => {
      // Bound as knex binds them (an array becomes a PostgreSQL array, undefined is refused),
      // not inlined as MikroORM's execute does: pass scalars, or JSON text for lists.
      const native = knex
        .raw(sql, params as never[])
        .toSQL()
        .toNative();
      // pg reads query_timeout per query too, though its types only list it per client.
      const config: QueryConfig & { query_timeout: number } = {
        text: native.sql,
        values: native.bindings as unknown[],
        query_timeout: NO_READ_TIMEOUT_MS,
      };
      const result = await connection.query<R>(config);
      return result.rows;
    };
    try {
      await query('BEGIN');
      await query('SET LOCAL statement_timeout = 0');
      const result = await work({ query });
      await query('COMMIT');
      return result;
    } catch (error) {
      await query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await client.releaseConnection(connection);
    }
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
