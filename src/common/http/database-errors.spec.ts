import { describe, expect, it } from 'vitest';
import { classifyDatabaseError, isUnreachable } from './database-errors';

const pgError = (code: string, message = 'from PostgreSQL', extra: object = {}) =>
  Object.assign(new Error(message), { code, ...extra });

describe('classifyDatabaseError', () => {
  it.each([
    ['57P01', 'terminating connection due to administrator command'],
    ['55000', 'database "conversions" is not currently accepting connections'],
    ['3D000', 'database "conversions" does not exist'],
    ['28P01', 'password authentication failed for user "tracker"'],
    ['53300', 'sorry, too many clients already'],
    ['53100', 'could not extend file: No space left on device'],
    ['08006', 'connection failure'],
    ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'],
  ])('counts %s (%s) as the database being unavailable', (code, message) => {
    expect(classifyDatabaseError(pgError(code, message))).toBe('unavailable');
  });

  it('counts a Unix socket that is gone (ENOENT from connect) as unavailable, not a missing file', () => {
    const connectError = Object.assign(new Error('connect ENOENT /run/postgresql/.s.PGSQL.5432'), {
      code: 'ENOENT',
      syscall: 'connect',
      address: '/run/postgresql/.s.PGSQL.5432',
    });
    expect(classifyDatabaseError(connectError)).toBe('unavailable');
    const missingFile = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), {
      code: 'ENOENT',
      syscall: 'open',
    });
    expect(classifyDatabaseError(missingFile)).toBeUndefined();
  });

  it('counts the driver giving up on an unanswered query as unavailable, through the ORM wrapper', () => {
    const wrapped = Object.assign(new Error('wrapped'), {
      previous: new Error('Query read timeout'),
    });
    expect(classifyDatabaseError(wrapped)).toBe('unavailable');
  });

  it('counts a server that takes no writes, and every operator intervention, as unavailable', () => {
    // A standby, or a primary set read-only while it fails over.
    expect(classifyDatabaseError(pgError('25006'))).toBe('unavailable');
    for (const code of ['57000', '57014', '57P01', '57P04', '57P05'])
      expect(classifyDatabaseError(pgError(code))).toBe('unavailable');
  });

  it('keeps conflicts, rejected text and everything else apart', () => {
    expect(classifyDatabaseError(pgError('40P01'))).toBe('conflict');
    expect(classifyDatabaseError(pgError('22021'))).toBe('rejected_text');
    expect(classifyDatabaseError(pgError('23505'))).toBeUndefined();
    expect(classifyDatabaseError(pgError('42P01'))).toBeUndefined();
    expect(classifyDatabaseError(pgError('55000', 'cannot do that now'))).toBeUndefined();
    expect(classifyDatabaseError('not an error')).toBeUndefined();
  });
});

describe('isUnreachable', () => {
  it('waits out a server that is away or on its way up', () => {
    expect(isUnreachable(pgError('ECONNREFUSED', '', { syscall: 'connect' }))).toBe(true);
    expect(isUnreachable(pgError('ENOTFOUND'))).toBe(true);
    expect(isUnreachable(pgError('57P03', 'the database system is starting up'))).toBe(true);
    expect(isUnreachable(pgError('08006'))).toBe(true);
  });

  it('stops on a server that refuses the service or whose migrations lock stays held', () => {
    expect(isUnreachable(pgError('3D000'))).toBe(false);
    expect(isUnreachable(pgError('28P01'))).toBe(false);
    expect(isUnreachable(pgError('25006'))).toBe(false);
    const lockHeld = new Error('Waited 10min for the migrations lock', {
      cause: pgError('55P03', 'canceling statement due to lock timeout'),
    });
    expect(isUnreachable(lockHeld)).toBe(false);
    expect(isUnreachable(new Error('relation "events" does not exist'))).toBe(false);
  });

  it('stops on a pooler that refuses the service, whatever code it sends', () => {
    for (const message of [
      'unsupported startup parameter: statement_timeout',
      'database "no_such_reports" does not exist',
      'no such database: reports',
      'password authentication failed for user "reader"',
    ])
      expect(isUnreachable(pgError('08P01', message))).toBe(false);
    expect(isUnreachable(pgError('08P01', 'server login has been failing, try again later'))).toBe(
      true,
    );
  });
});
