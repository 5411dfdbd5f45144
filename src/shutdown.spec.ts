import { Logger } from '@nestjs/common';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Shutdown } from './shutdown';

describe('Shutdown', () => {
  const signals = ['SIGTERM', 'SIGINT'] as const;
  const listenersBefore = signals.map((signal) => process.listeners(signal));
  afterEach(() => {
    vi.restoreAllMocks();
    // The listeners a Shutdown adds, so that they do not answer the runner's own signals.
    signals.forEach((signal, index) => {
      for (const listener of process.listeners(signal))
        if (!listenersBefore[index].includes(listener)) process.off(signal, listener);
    });
  });

  it('stops every part though one fails, then exits 1 naming it', async () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const logged = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const shutdown = new Shutdown(60_000);
    const stopped: string[] = [];
    const stopping = (part: string) => () => {
      stopped.push(part);
      return Promise.resolve();
    };
    shutdown.onStop(stopping('embedded PostgreSQL'));
    shutdown.onStop(() => Promise.reject(new Error('pool would not close')));
    shutdown.onStop(stopping('HTTP server'));
    await shutdown.servingNow();
    (shutdown as unknown as { onSignal(signal: string): void }).onSignal('SIGTERM');
    await vi.waitFor(() => expect(exit).toHaveBeenCalled());
    expect(exit.mock.calls).toEqual([[1]]);
    expect(stopped).toEqual(['HTTP server', 'embedded PostgreSQL']);
    expect(logged).toHaveBeenCalledWith(
      expect.stringMatching(/^Stopping a part failed: Error: pool would not close/),
    );
  });
});
