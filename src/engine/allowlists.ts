// The three shapes of allow entry a rule can take, each with its schema (the policy file's keys),
// how an entry matches an object, and how it is shown to the person refused. A rule picks one;
// a new rule with an existing shape writes no allowlist code.
import { z } from 'zod';
import { globMatch } from './glob.js';
import { hostGlobCovers, resolveHost } from './istio/hosts.js';
import { formatLabels } from './read.js';
import type { AllowlistTarget, Finding } from './types.js';

// Globs are matched against user-controlled text on every request: the matcher is linear in the
// text, and a pattern is capped so the other factor stays small too. Control characters have no
// place in names and would collide with the wildcard-host marker.
const MAX_GLOB = 512;
/** A policy glob: `*` any run of characters, `?` one; 1–512 characters, no control characters. */
export const globSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_GLOB, `must be at most ${MAX_GLOB} characters`)
  // \x escapes, not \u: the chart's JSON schema carries this pattern to helm, whose Go regexp
  // has no \u.
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\x00-\x1f\x7f]*$/, 'must not contain control characters');
const portSchema = z.number().int().min(1).max(65535);
const portsSchema = z.array(portSchema).min(1, 'must list at least one port (omit the key to allow every port)');

/** One kind of allow entry: its schema, its match, its wording. */
export interface Allowlist<E> {
  /** The entry's schema in the policy file (zod reports key paths). */
  readonly entrySchema: z.ZodType<E, unknown>;
  /** Whether one entry permits all of these findings on this object. */
  allows(entry: E, target: AllowlistTarget, findings: readonly Finding[]): boolean;
  /** The entry as the "allowed here" list shows it. */
  describe(entry: E): string;
}

/** Entry `ports` must contain every offending port, and a finding without a port (top level)
 * needs an entry without ports. */
function portsCovered(entryPorts: readonly number[] | undefined, findings: readonly Finding[]): boolean {
  if (!entryPorts) return true;
  return findings.every((f) => f.port !== undefined && entryPorts.includes(f.port));
}

function reasonSuffix(reason: string | undefined): string {
  return reason ? ` ("${reason}")` : '';
}

const workloadEntrySchema = z.strictObject({
  namespace: globSchema,
  name: globSchema.optional(),
  selector: z.record(z.string(), z.string()).optional(),
  ports: portsSchema.optional(),
  reason: z.string().optional(),
});
export type WorkloadAllowEntry = z.output<typeof workloadEntrySchema>;

/**
 * PeerAuthentication entries: `namespace` glob; `name` glob; `selector` labels a subset of the
 * policy's `selector.matchLabels` (a policy without selector is allowed only by an entry without
 * one); `ports` as {@link portsCovered}.
 */
export const workloadEntries: Allowlist<WorkloadAllowEntry> = {
  entrySchema: workloadEntrySchema,
  allows(entry, target, findings) {
    if (!globMatch(entry.namespace, target.namespace)) return false;
    if (entry.name !== undefined && !globMatch(entry.name, target.name)) return false;
    if (entry.selector !== undefined) {
      if (!target.selector) return false;
      for (const [k, v] of Object.entries(entry.selector)) if (target.selector[k] !== v) return false;
    }
    return portsCovered(entry.ports, findings);
  },
  describe(entry) {
    let text = entry.name ? `${entry.namespace}/${entry.name}` : entry.namespace;
    if (entry.selector) text += ` selector ${formatLabels(entry.selector)}`;
    if (entry.ports) text += ` ports ${entry.ports.join(',')}`;
    return text + reasonSuffix(entry.reason);
  },
};

const hostEntrySchema = z.strictObject({
  host: globSchema,
  namespace: globSchema.optional(),
  ports: portsSchema.optional(),
  reason: z.string().optional(),
});
export type HostAllowEntry = z.output<typeof hostEntrySchema>;

/**
 * The entry's host as the allowlist reads it: resolved as Istio resolves a DestinationRule host.
 * A one-label literal is expanded with the entry's literal namespace (an entry `host: details,
 * namespace: bookinfo` means details.bookinfo.svc.<domain>); without one it names no Service and
 * is compared as written. A dotted literal and a glob are compared as written (`*.org` covers
 * `httpbin.org`; `details.bookinfo` covers only a rule whose host is literally that).
 */
export function entryHost(entry: HostAllowEntry, clusterDomain: string): string {
  const host = entry.host.trim().toLowerCase();
  if (/[*?]/.test(host) || host.includes('.')) return host;
  const ns = entry.namespace;
  return ns !== undefined && !/[*?]/.test(ns) ? resolveHost(host, ns, clusterDomain) : host;
}

/** DestinationRule entries: `host` glob over the resolved host; `namespace` glob; `ports`. */
export const hostEntries: Allowlist<HostAllowEntry> = {
  entrySchema: hostEntrySchema,
  allows(entry, target, findings) {
    if (!hostGlobCovers(entryHost(entry, target.clusterDomain ?? 'cluster.local'), target.resolvedHost ?? '')) return false;
    if (entry.namespace !== undefined && !globMatch(entry.namespace, target.namespace)) return false;
    return portsCovered(entry.ports, findings);
  },
  describe(entry) {
    let text = `host ${entry.host}`;
    if (entry.namespace) text += ` in ${entry.namespace}`;
    if (entry.ports) text += ` ports ${entry.ports.join(',')}`;
    return text + reasonSuffix(entry.reason);
  },
};

const nameEntrySchema = z.strictObject({
  namespace: globSchema,
  name: globSchema.optional(),
  reason: z.string().optional(),
});
export type NameAllowEntry = z.output<typeof nameEntrySchema>;

/** Workload entries by name: `namespace` glob; `name` glob over the workload's name. */
export const nameEntries: Allowlist<NameAllowEntry> = {
  entrySchema: nameEntrySchema,
  allows: (entry, target) => globMatch(entry.namespace, target.namespace) && (entry.name === undefined || globMatch(entry.name, target.name)),
  describe: (entry) => `${entry.name ? `${entry.namespace}/${entry.name}` : entry.namespace}${reasonSuffix(entry.reason)}`,
};
