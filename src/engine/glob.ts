// Globs of the policy file: `*` matches any run of characters (dots included, so `*.local`
// covers every host under .local), `?` exactly one. The text matched is user-controlled (hosts,
// namespaces, names, users, groups) and the pattern is the administrator's, so matching must
// stay linear in the text whatever the pattern: a backtracking regular expression took seconds
// for `*.*.*.*.*.example.com` against a 253-character host and stalled every other request.
//
// The matcher splits a glob at its stars into fixed-length segments (`?` is one character). The
// first segment must start the text and the last must end it; every middle segment is placed at
// its leftmost possible position after the previous one. Leftmost placement is never worse than
// any other (a star can absorb whatever a later placement would have skipped), so there is no
// backtracking: each text position is compared against each segment at most once per segment
// character, O(text × pattern) in the worst case and O(text) for the usual short segments.

/** Stands in for a wildcard host's leading `*`: only a glob `*` may match it. */
export const HOST_WILDCARD = '\u0000';

/** A glob split at its stars: `a*b?c*` → head `a`, middle [`b?c`], tail ``. */
interface CompiledGlob {
  /** True when the glob has no star: the text must equal `head` in length and characters. */
  exact: boolean;
  head: string;
  middle: string[];
  tail: string;
}

const cache = new Map<string, CompiledGlob>();
const MAX_CACHED = 10_000;

function compile(glob: string): CompiledGlob {
  let compiled = cache.get(glob);
  if (compiled) return compiled;
  const parts = glob.split('*');
  if (parts.length === 1) compiled = { exact: true, head: glob, middle: [], tail: '' };
  else {
    compiled = {
      exact: false,
      head: parts[0] ?? '',
      middle: parts.slice(1, -1).filter((p) => p !== ''),
      tail: parts[parts.length - 1] ?? '',
    };
  }
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(glob, compiled);
  return compiled;
}

/** Counts character comparisons, so a test can hold the matcher to its linear bound. */
export interface MatchCounter {
  steps: number;
}

/** Does `segment` (literal characters and `?`) match `text` at `at`? */
function segmentAt(segment: string, text: string, at: number, counter?: MatchCounter): boolean {
  for (let i = 0; i < segment.length; i++) {
    if (counter) counter.steps++;
    const want = segment.charCodeAt(i);
    const have = text.charCodeAt(at + i);
    // `?` is any one character except the wildcard-host marker, which only `*` may consume.
    if (want === 63 /* ? */ ? have === 0 : want !== have) return false;
  }
  return true;
}

/**
 * Matches `value` against a policy glob in time linear in `value` for a given glob.
 * @param glob pattern with `*` (any run, dots included) and `?` (one character); other
 *   characters are literal and compared exactly (callers lower-case where case does not count).
 * @param value the text to test (a host, namespace, name, user or group).
 * @param counter optional comparison counter, for tests of the time bound.
 * @returns true when the whole of `value` matches the whole of `glob`. Never throws.
 */
export function globMatch(glob: string, value: string, counter?: MatchCounter): boolean {
  const g = compile(glob);
  if (g.exact) return value.length === g.head.length && segmentAt(g.head, value, 0, counter);
  if (value.length < g.head.length + g.tail.length) return false;
  if (!segmentAt(g.head, value, 0, counter)) return false;
  const tailStart = value.length - g.tail.length;
  if (!segmentAt(g.tail, value, tailStart, counter)) return false;
  let pos = g.head.length;
  for (const segment of g.middle) {
    let found = -1;
    for (let at = pos; at + segment.length <= tailStart; at++) {
      if (segmentAt(segment, value, at, counter)) {
        found = at;
        break;
      }
    }
    if (found < 0) return false;
    pos = found + segment.length;
  }
  return true;
}

/** True when any of `globs` matches `value` (see {@link globMatch}). */
export function anyGlobMatch(globs: readonly string[], value: string): boolean {
  return globs.some((g) => globMatch(g, value));
}
