import { generateKeyPairSync } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessTokenSource } from './access-token';

/** A token endpoint that answers after 500 ms, counting exchanges. */
let server: Server;
let exchanges = 0;
beforeAll(async () => {
  server = createServer((_req, res) => {
    exchanges++;
    setTimeout(() => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ access_token: `token-${exchanges}`, expires_in: 3600 }));
    }, 500);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

function source(now?: () => number): AccessTokenSource {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return new AccessTokenSource(
    {
      clientEmail: 'reconciler@test.iam.gserviceaccount.com',
      privateKey,
      privateKeyId: 'k1',
      tokenUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    },
    { timeoutMs: 5_000, retries: 0, backoffMs: 10 },
    now,
  );
}

describe('AccessTokenSource: one exchange shared by callers that stop on their own', () => {
  it('stops a caller whose signal aborts at once, while the others get the token', async () => {
    for (const stoppingFirst of [true, false]) {
      const tokens = source();
      const before = exchanges;
      const stop = new AbortController();
      const waiting = stoppingFirst
        ? [tokens.token(stop.signal), tokens.token()]
        : [tokens.token(), tokens.token(stop.signal)];
      const stopping = waiting[stoppingFirst ? 0 : 1];
      const other = waiting[stoppingFirst ? 1 : 0];
      const started = Date.now();
      setTimeout(() => stop.abort(), 50);
      await expect(stopping).rejects.toThrow('shutting down');
      expect(Date.now() - started).toBeLessThan(400);
      await expect(other).resolves.toMatch(/^token-/);
      expect(exchanges - before).toBe(1);
    }
  });
});

describe('AccessTokenSource: renewal', () => {
  it('reuses a token until a minute before it expires, then exchanges the assertion again', async () => {
    let now = 1_800_000_000_000;
    const tokens = source(() => now);
    const first = await tokens.token();
    now += 3_539_000; // the endpoint's tokens last 3,600 s: 61 s left
    expect(await tokens.token()).toBe(first);
    now += 2_000; // 59 s left
    const renewed = await tokens.token();
    expect(renewed).not.toBe(first);
    expect(renewed).toMatch(/^token-/);
  });
});
