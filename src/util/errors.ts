// The text of a thrown value, for messages and logs: an Error's message, anything else as a
// string. JavaScript can throw anything, and a message must never read "[object Object]" or crash.

/** `err.message` for an Error, `String(err)` otherwise. Never throws. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
