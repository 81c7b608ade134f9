// Globs of the policy file: `*` matches any run of characters (dots included, so `*.local`
// covers every host under .local), `?` exactly one. Compiled once and cached, because the same
// few patterns are matched on every request.
const cache = new Map<string, RegExp>();

/** Stands in for a wildcard host's leading `*`: only a glob `*` may match it. */
export const HOST_WILDCARD = '\u0000';

function compile(glob: string): RegExp {
  let re = cache.get(glob);
  if (re) return re;
  let source = '^';
  for (const ch of glob) {
    if (ch === '*') source += '[^]*';
    else if (ch === '?') source += '[^\\u0000]';
    else source += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  re = new RegExp(source + '$');
  if (cache.size > 10_000) cache.clear();
  cache.set(glob, re);
  return re;
}

export function globMatch(glob: string, value: string): boolean {
  return compile(glob).test(value);
}

export function anyGlobMatch(globs: readonly string[], value: string): boolean {
  return globs.some((g) => globMatch(g, value));
}
