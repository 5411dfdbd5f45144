/**
 * Resolves after the event loop has had a turn: a long computation awaits it between
 * slices of its work, so tracking requests are answered meanwhile.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
