/** Ends an exhaustive switch: the compiler proves it unreachable, and a bad value at run time fails loudly. */
export function assertUnreachable(value: never): never {
  throw new Error(`Unhandled case: ${String(value)}`);
}
