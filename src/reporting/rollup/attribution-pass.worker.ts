import 'reflect-metadata';
import { parentPort, workerData } from 'node:worker_threads';
import { MikroORM } from '@mikro-orm/postgresql';
import { Database } from '../../persistence/database';
import { createOrmOptions } from '../../persistence/orm-options';
import { PassOutcome, foldMarks } from './attribution-pass';
import { AttributionRefreshRepository } from './attribution-refresh.repository';
import { PassReply, PassRequest, WorkerSetup, describeError } from './attribution-pass.protocol';

/**
 * The attribution refresher's passes, on a thread of their own: building their SQL,
 * parsing the events they read and computing credit would otherwise hold up the event
 * loop that answers tracking requests. One connection, one pass at a time.
 */
const { database, settings } = workerData as WorkerSetup;
const repository = new AttributionRefreshRepository();
let opening: Promise<{ orm: MikroORM; sql: Database }> | undefined;

function open(): Promise<{ orm: MikroORM; sql: Database }> {
  opening ??= MikroORM.init({
    ...createOrmOptions({ ...database, poolSize: 1 }),
    entities: [],
  }).then(
    (orm) => ({ orm, sql: new Database(orm.em.fork(), { namedStatements: false }) }),
    (error: unknown) => {
      opening = undefined; // the next pass tries again
      throw error;
    },
  );
  return opening;
}

async function runPass(limit: number): Promise<PassOutcome> {
  const { sql } = await open();
  return sql.transaction((trx) => foldMarks(trx, repository, limit, settings));
}

parentPort!.on('message', (request: PassRequest) => {
  if (request.type === 'close') {
    void (opening ?? Promise.resolve(undefined))
      .then((opened) => opened?.orm.close())
      .catch(() => undefined)
      .finally(() => parentPort!.close());
    return;
  }
  runPass(request.limit).then(
    (outcome) => parentPort!.postMessage({ id: request.id, outcome } satisfies PassReply),
    (error: unknown) =>
      parentPort!.postMessage({ id: request.id, error: describeError(error) } satisfies PassReply),
  );
});
