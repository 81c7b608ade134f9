// The production logger: JSON lines on stdout, ISO timestamps. Two costs of the defaults showed in
// the profile of the admission path (BENCHMARKS.md, "What was changed"): a synchronous write(2)
// per decision line, and a new Date().toISOString() per line.
// - The destination is asynchronous: a line is handed to the kernel at once when no write is in
//   flight, and lines logged while one is in flight go out together in the next write. Nothing
//   waits for a buffer to fill, so a quiet server's lines appear as promptly as before; pino
//   flushes what is pending synchronously when the process exits.
// - The timestamp is the same `"time":"<ISO 8601>"` field, formatted once per millisecond.
import { pino, type Logger } from 'pino';

let stampedAt = -1;
let stamp = '';

/** pino.stdTimeFunctions.isoTime, computed at most once per millisecond. */
export function isoTime(): string {
  const now = Date.now();
  if (now !== stampedAt) {
    stampedAt = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

export function createLogger(level: string, fd = 1): Logger {
  return pino({ level, timestamp: isoTime }, pino.destination({ dest: fd, sync: false }));
}
