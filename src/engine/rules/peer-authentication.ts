// What the two PeerAuthentication rules share: how the object reads to an allowlist, its scope
// words, and how a workload allow entry matches.
import type { IPeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication';
import { globMatch } from '../glob.js';
import { asMode, asRecord, asStringMap, dig, formatLabels } from '../read.js';
import { portsCovered, reasonSuffix } from '../rule.js';
import type { Finding, Policy, Subject, WorkloadAllowEntry } from '../types.js';

type PeerAuthenticationMode = NonNullable<NonNullable<NonNullable<IPeerAuthentication['spec']>['mtls']>['mode']>;

export function peerAuthenticationSubject(object: unknown, namespace: string, name: string): Subject {
  const labels = asStringMap(dig(object, 'spec', 'selector', 'matchLabels'));
  // An empty matchLabels selects every workload, exactly like no selector.
  const selector = labels && Object.keys(labels).length > 0 ? labels : undefined;
  return selector ? { namespace, name, selector } : { namespace, name };
}

export type ScopeKind = 'mesh-wide' | 'namespace-wide' | 'workload';

export function scopeKind(subject: Subject, policy: Policy): ScopeKind {
  if (subject.selector) return 'workload';
  return subject.namespace === policy.meshRootNamespace ? 'mesh-wide' : 'namespace-wide';
}

export function scopeWords(subject: Subject, policy: Policy): string {
  switch (scopeKind(subject, policy)) {
    case 'mesh-wide':
      return 'mesh-wide: every workload in the mesh';
    case 'namespace-wide':
      return `namespace-wide: every workload in ${subject.namespace}`;
    case 'workload': {
      const base = `workload scope: pods with ${formatLabels(subject.selector ?? {})} in ${subject.namespace}`;
      return subject.namespace === policy.meshRootNamespace
        ? `${base}; note: recent Istio ignores selectors on PeerAuthentications in the mesh root namespace`
        : base;
    }
  }
}

export function who(subject: Subject, policy: Policy): string {
  switch (scopeKind(subject, policy)) {
    case 'mesh-wide':
      return 'every workload in the mesh';
    case 'namespace-wide':
      return `every workload in ${subject.namespace}`;
    case 'workload':
      return 'these pods';
  }
}

/** Findings for every mode field (top level and per port) whose mode satisfies `offends`. */
export function findModes(
  object: unknown,
  subject: Subject,
  policy: Policy,
  offends: (mode: PeerAuthenticationMode | undefined, portLevel: boolean) => boolean,
): Finding[] {
  const scope = scopeWords(subject, policy);
  const findings: Finding[] = [];
  const top = dig(object, 'spec', 'mtls', 'mode');
  const topMode = asMode(top) as PeerAuthenticationMode | undefined;
  if (offends(topMode, false)) {
    findings.push({ path: 'spec.mtls.mode', value: typeof top === 'string' ? top : 'UNSET (absent)', scope });
  }
  const ports = asRecord(dig(object, 'spec', 'portLevelMtls'));
  for (const [port, setting] of Object.entries(ports ?? {})) {
    const raw = dig(setting, 'mode');
    if (typeof raw !== 'string' || !offends(asMode(raw) as PeerAuthenticationMode, true)) continue;
    const num = Number(port);
    const finding: Finding = { path: `spec.portLevelMtls.${port}.mode`, value: raw, scope: `${scope}, port ${port}` };
    if (Number.isInteger(num)) finding.port = num;
    findings.push(finding);
  }
  return findings;
}

export function workloadEntryAllows(entry: WorkloadAllowEntry, subject: Subject, findings: readonly Finding[]): boolean {
  if (!globMatch(entry.namespace, subject.namespace)) return false;
  if (entry.name !== undefined && !globMatch(entry.name, subject.name)) return false;
  if (entry.selector !== undefined) {
    // A policy without selector covers the whole namespace; only an entry without selector may allow it.
    if (!subject.selector) return false;
    for (const [k, v] of Object.entries(entry.selector)) if (subject.selector[k] !== v) return false;
  }
  return portsCovered(entry.ports, findings);
}

export function describeWorkloadEntry(entry: WorkloadAllowEntry): string {
  let text = entry.name ? `${entry.namespace}/${entry.name}` : entry.namespace;
  if (entry.selector) text += ` selector ${formatLabels(entry.selector)}`;
  if (entry.ports) text += ` ports ${entry.ports.join(',')}`;
  return text + reasonSuffix(entry.reason);
}
