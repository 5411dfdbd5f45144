import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ga4Fetch } from './ga4-http';
import { Ga4ResponseError } from './ga4.errors';

let server: Server;
beforeAll(async () => {
  server = createServer((_req, res) => {
    res.statusCode = 500;
    res.setHeader('Content-Type', 'application/json');
    res.end('null');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

describe('ga4Fetch', () => {
  it('reads an error answer whose body is JSON null by its status line, not as a crash', async () => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
    const failure = await ga4Fetch(
      url,
      { timeoutMs: 2_000, retries: 0, backoffMs: 10 },
      {
        method: 'POST',
      },
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Ga4ResponseError);
    expect((failure as Error).message).toContain('500');
  });
});
