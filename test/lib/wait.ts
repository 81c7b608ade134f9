// Waiting on a condition instead of sleeping for a guessed time: polls until `check` is true,
// and fails with what it was waiting for (and the last error the check threw) after the timeout.
// The timeout only bounds a failing test; a passing one returns as soon as the condition holds.

export interface WaitOptions {
  /** How long a failing wait takes before it fails; default 5 s. */
  timeoutMs?: number;
  /** Pause between checks; default 20 ms. */
  intervalMs?: number;
  /** How a thrown error is shown in the failure message; default its message. */
  describeError?: (err: unknown) => string;
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, options: WaitOptions = {}): Promise<void> {
  const { timeoutMs = 5000, intervalMs = 20, describeError = (e) => (e instanceof Error ? e.message : String(e)) } = options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? `; last error: ${describeError(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
