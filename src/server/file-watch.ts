// Notices when files mounted from a Secret or ConfigMap change. Kubelet updates those mounts by
// swapping a `..data` symlink, so a watch on the file's inode would never fire again: we watch
// the parent directories, and poll as a fallback (fs.watch is unreliable on some volume types
// and inotify limits can run out). Changes are detected by content hash, so a touched but
// identical file, or a burst of events from one swap, reports at most one change. A change is
// reported only once the content has stopped changing for a settle interval: a file written in
// place (an editor, `cat > file`, `: > file` then a write) is not read half-way.
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface FileWatchOptions {
  /** Poll period for the fallback check. */
  pollMs?: number;
  /** Delay from a directory event to the check it triggers (events in between join it). */
  debounceMs?: number;
  /** How long new content must stay unchanged before it is reported, so a write in progress is not read. */
  settleMs?: number;
  /** Told when new content was seen and is being left to settle (a log line, and tests wait on it). */
  onSettling?: () => void;
  /** Off only in tests that exercise the poll path alone. */
  useFsWatch?: boolean;
}

export interface FileWatch {
  /** Re-reads the files now and reports them even when unchanged; resolves when handled. */
  reload(): Promise<void>;
  close(): void;
}

const DEFAULT_POLL_MS = 2000;
const DEFAULT_DEBOUNCE_MS = 100;
// Kubelet's symlink swap is atomic, so this only delays a rotation; a person's or a script's
// in-place write with a pause shorter than this is read whole.
export const DEFAULT_SETTLE_MS = 300;

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** One read of every watched file: what the consumer loads is exactly what was compared. */
export interface FileSnapshot {
  /** Content per path, or the read error (a missing file mid-swap, a permission problem). */
  files: (Buffer | NodeJS.ErrnoException)[];
  fingerprint: string;
}

export async function readSnapshot(paths: readonly string[]): Promise<FileSnapshot> {
  const hash = createHash('sha256');
  const files: FileSnapshot['files'] = [];
  for (const path of paths) {
    try {
      const content = await readFile(path);
      files.push(content);
      hash.update(content);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      files.push(e);
      hash.update(`\u0000error:${e.code ?? e.message}`);
    }
    hash.update('\u0000');
  }
  return { files, fingerprint: hash.digest('hex') };
}

/**
 * Calls `onChange` with a fresh snapshot when the content of `paths` differs from `initial`
 * (the snapshot the caller loaded). Calls never overlap: a change seen while `onChange` runs
 * is checked after it.
 */
export function watchFiles(
  paths: readonly string[],
  initial: FileSnapshot,
  onChange: (snapshot: FileSnapshot) => Promise<void> | void,
  options: FileWatchOptions = {},
): FileWatch {
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  let last = initial.fingerprint;
  let closed = false;
  let running: Promise<void> | undefined;
  let again = false;
  let forced = false;
  let debounce: NodeJS.Timeout | undefined;

  const loop = async (): Promise<void> => {
    try {
      do {
        again = false;
        // A forced check (SIGHUP) is an operator saying "the files are ready": no settling,
        // and applied even when unchanged (a pair refused as not yet valid may be valid now).
        const force = forced;
        forced = false;
        let snapshot = await readSnapshot(paths);
        if (closed || (!force && snapshot.fingerprint === last)) continue;
        if (!force && settleMs > 0) {
          options.onSettling?.();
          for (;;) {
            await pause(settleMs);
            if (closed) return;
            const later = await readSnapshot(paths);
            if (later.fingerprint === snapshot.fingerprint) break;
            snapshot = later;
          }
          // Changed, then changed back while settling: nothing to report.
          if (snapshot.fingerprint === last) continue;
        }
        last = snapshot.fingerprint;
        await onChange(snapshot);
      } while (again && !closed);
    } finally {
      running = undefined;
    }
  };
  /** Resolves once the check (and any change seen meanwhile) has been handled. */
  const check = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = loop();
    return running;
  };
  // onChange reports its own failures; a rejected check must not become an unhandled rejection.
  const runCheck = (): void => void check().catch(() => undefined);

  // One check per burst of events, `debounceMs` after its first: not pushed back by every new
  // event, or a busy directory (a log file beside the policy) would starve the watch until the
  // poll. Waiting for the content to stop changing is the settle interval's job.
  const schedule = (): void => {
    if (debounce) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      runCheck();
    }, debounceMs);
    debounce.unref();
  };

  const watchers: FSWatcher[] = [];
  if (options.useFsWatch !== false) {
    for (const dir of new Set(paths.map((p) => dirname(p)))) {
      try {
        const w = watch(dir, { persistent: false }, schedule);
        // A vanished directory or exhausted inotify watches leave the poll in charge.
        w.on('error', () => w.close());
        watchers.push(w);
      } catch {
        // Same: polling still covers this directory.
      }
    }
  }
  const poll = setInterval(runCheck, pollMs);
  poll.unref();

  return {
    reload(): Promise<void> {
      forced = true;
      return check().catch(() => undefined);
    },
    close(): void {
      closed = true;
      clearInterval(poll);
      if (debounce) clearTimeout(debounce);
      for (const w of watchers) w.close();
    },
  };
}
