/** An error as a log line wants it: its stack when it has one, else its message. */
export function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
