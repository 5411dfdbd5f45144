import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { classifyDatabaseError } from '../src/common/http/database-errors';
import { loadConfig } from '../src/config/app-config';
import {
  AttributionPassThread,
  PassThreadDownError,
} from '../src/reporting/rollup/attribution-pass-thread';
import { settingsFingerprint } from '../src/reporting/rollup/attribution-pass';
import { freePort } from './support/free-port';
import { passWorkerOf } from './support/pass-thread';
import { TestDatabase, createTestDatabase } from './support/test-database';

/** The refresher's passes run on a worker thread with a connection of its own. */
describe('AttributionPassThread', () => {
  let db: TestDatabase;
  const threads: AttributionPassThread[] = [];

  function passThread(url: string): AttributionPassThread {
    const config = loadConfig({ DATABASE_URL: url, DB_CONNECT_TIMEOUT_MS: '1000' });
    const thread = new AttributionPassThread({ ...config.database, url }, config);
    threads.push(thread);
    return thread;
  }
  const addMarks = (count: number) =>
    db.pool.query(
      `INSERT INTO attribution_marks (kind, identity, since)
       SELECT 'v', 'visitor-' || n, '-infinity' FROM generate_series(1, $1) n`,
      [count],
    );
  const marksLeft = async () =>
    Number((await db.pool.query('SELECT count(*) FROM attribution_marks')).rows[0].count);

  beforeAll(async () => {
    db = await createTestDatabase();
    // What the refresher does at start: the rollup is claimed for these settings.
    await db.pool.query('INSERT INTO attribution_state (id, fingerprint) VALUES (1, $1)', [
      settingsFingerprint({ timeZone: 'UTC', conversionTypes: undefined }),
    ]);
  });
  afterEach(async () => {
    await Promise.all(threads.splice(0).map((thread) => thread.onApplicationShutdown()));
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('folds marks in its own transaction, at most `limit` per pass', async () => {
    await addMarks(5);
    const thread = passThread(db.url);
    expect(await thread.run(3)).toMatchObject({ taken: 3 });
    expect(await marksLeft()).toBe(2);
    expect(await thread.run(3)).toMatchObject({ taken: 2 });
    expect(await marksLeft()).toBe(0);
  });

  it('hands back a database outage as one the callers classify as unavailable', async () => {
    const nobodyListens = `postgresql://postgres@127.0.0.1:${await freePort()}/postgres`;
    const failure = await passThread(nobodyListens)
      .run(10)
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(Error);
    expect(classifyDatabaseError(failure)).toBe('unavailable');
  });

  it('starts a new thread for the next pass after its idle thread died', async () => {
    const thread = passThread(db.url);
    await thread.run(1);
    await passWorkerOf(thread)!.terminate();
    await addMarks(1);
    expect(await thread.run(10)).toMatchObject({ taken: 1 });
    expect(await marksLeft()).toBe(0);
  });

  it('waits before starting again a thread that died during a pass, refusing passes meanwhile', async () => {
    const thread = passThread(db.url);
    await thread.run(1); // it has answered before: dying during a later pass counts all the same
    const inFlight = thread.run(1);
    await passWorkerOf(thread)!.terminate();
    await expect(inFlight).rejects.toBeInstanceOf(PassThreadDownError);
    await expect(thread.run(1)).rejects.toBeInstanceOf(PassThreadDownError);
    expect(passWorkerOf(thread)).toBeUndefined();
    // Only the monotonic clock is faked (it then starts at 0): the thread still runs in real time.
    const now = performance.now();
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      vi.advanceTimersByTime(now + 5_001);
      await addMarks(1);
      expect(await thread.run(10)).toMatchObject({ taken: 1 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('finishes a pass in flight at shutdown, closes its connection and refuses later passes', async () => {
    await addMarks(3);
    const thread = passThread(db.url);
    const inFlight = thread.run(10);
    const exitCode = new Promise<number>((resolve) => passWorkerOf(thread)!.once('exit', resolve));
    await thread.onApplicationShutdown();
    // 0: it exited by itself; one terminated after the close timeout exits with 1.
    expect(await exitCode).toBe(0);
    await expect(inFlight).resolves.toMatchObject({ taken: 3 });
    const sessions = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'conversion-tracking'`,
    );
    expect(sessions.rows[0].n).toBe(0);
    await expect(thread.run(1)).rejects.toThrow(/closed/);
  });
});
