import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfigOrExit } from './load-config-or-exit';

class Exited extends Error {
  constructor(readonly code: number | undefined) {
    super(`exit ${code}`);
  }
}

describe('loadConfigOrExit', () => {
  let stderr: string[];

  beforeEach(() => {
    stderr = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });
    vi.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
      throw new Exited(Number(code));
    });
  });

  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it.each([
    ['DATABASE_URL', { DATABASE_URL: 'postgresql://postgres:TOPSECRET@127.0.0.1:notaport/db' }],
    [
      'REPORT_DATABASE_URL',
      {
        DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/db',
        REPORT_DATABASE_URL: 'postgres://reader:TOPSECRET#1@replica:5432/db',
      },
    ],
  ])('stops with 78 on an unparsable %s, naming it, without a stack or the secret', (name, env) => {
    for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
    let exited: unknown;
    try {
      loadConfigOrExit();
    } catch (error) {
      exited = error;
    }
    expect(exited).toBeInstanceOf(Exited);
    expect((exited as Exited).code).toBe(78);
    const output = stderr.join('');
    expect(output).toMatch(new RegExp(`^  - ${name} is not a valid URL`, 'm'));
    expect(output).not.toMatch(/TypeError|\n\s+at /);
    expect(output).not.toContain('TOPSECRET');
  });
});
