import { describe, expect, it } from 'vitest';
import { isUnreachable } from './database-wait';

const failure = (code: string, message = code, extra: object = {}) =>
  Object.assign(new Error(message), { code, ...extra });

describe('isUnreachable', () => {
  it('waits out a server that is away or on its way up', () => {
    expect(isUnreachable(failure('ECONNREFUSED', '', { syscall: 'connect' }))).toBe(true);
    expect(isUnreachable(failure('ENOTFOUND'))).toBe(true);
    expect(isUnreachable(failure('57P03', 'the database system is starting up'))).toBe(true);
    expect(isUnreachable(failure('08006'))).toBe(true);
  });

  it('stops on a server that refuses the service or whose migrations lock stays held', () => {
    expect(isUnreachable(failure('3D000'))).toBe(false);
    expect(isUnreachable(failure('28P01'))).toBe(false);
    const lockHeld = new Error('Waited 10min for the migrations lock', {
      cause: failure('55P03', 'canceling statement due to lock timeout'),
    });
    expect(isUnreachable(lockHeld)).toBe(false);
    expect(isUnreachable(new Error('relation "events" does not exist'))).toBe(false);
  });
});
