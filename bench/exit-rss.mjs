// Loaded with --import into a measured process: on exit, reports its peak resident set size
// (KiB, from getrusage) on file descriptor 3, so the bench reads it without touching stdout.
import { writeSync } from 'node:fs';
process.on('exit', () => {
  try {
    writeSync(3, `${process.resourceUsage().maxRSS}\n`);
  } catch {
    // Not run by the bench (no fd 3): nothing to report to.
  }
});
