// How Istio reads a PeerAuthentication: its modes (with Istio's defaults), which of them it
// applies at all, its scope, and how the object reads to a workload allowlist.
import type { IPeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication';
import { asRecord, asStringMap, dig, formatLabels } from '../read.js';
import type { AllowlistTarget, Finding, Policy } from '../types.js';

type PeerAuthenticationMode = NonNullable<NonNullable<NonNullable<IPeerAuthentication['spec']>['mtls']>['mode']>;

/** `PeerAuthentication.MutualTLS.Mode` values by enum number (istio.io/api security/v1beta1/peer_authentication.proto). */
const PEER_AUTHENTICATION_MODES = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'] as const;

/**
 * The mode Istio reads: absent or null is UNSET (the zero value: inherit); strings compare
 * upper-cased (a lower-case mode is refused by the CRD's enum, so reading it as meant is the
 * safe side); enum numbers map to their names. `invalid` for anything else.
 */
export function peerMode(value: unknown): PeerAuthenticationMode | 'invalid' {
  if (value === undefined || value === null) return 'UNSET';
  if (typeof value === 'number') return PEER_AUTHENTICATION_MODES[value] ?? 'invalid';
  if (typeof value !== 'string') return 'invalid';
  const upper = value.toUpperCase();
  return (PEER_AUTHENTICATION_MODES as readonly string[]).includes(upper) ? (upper as PeerAuthenticationMode) : 'invalid';
}

/** A `portLevelMtls` key the CRD accepts (`0 < int(key) <= 65535`), as a number; else undefined. */
export function portKey(key: string): number | undefined {
  if (!/^[0-9]+$/.test(key)) return undefined;
  const port = Number(key);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * Whether Istio applies this PeerAuthentication at all. Istio's `ComposePeerAuthentication`
 * (istio.io/istio pilot/pkg/security/authn) skips a policy with a selector in the root
 * namespace: it is neither mesh-wide nor a workload policy, so it applies to no workload.
 */
export function isIgnoredByIstio(target: AllowlistTarget, policy: Policy): boolean {
  return target.selector !== undefined && target.namespace === policy.meshRootNamespace;
}

/** How a PeerAuthentication reads to a workload allowlist: namespace, name, and non-empty selector. */
export function peerAuthenticationTarget(object: unknown, namespace: string, name: string): AllowlistTarget {
  const labels = asStringMap(dig(object, 'spec', 'selector', 'matchLabels'));
  // An empty matchLabels selects every workload, exactly like no selector.
  const selector = labels && Object.keys(labels).length > 0 ? labels : undefined;
  return selector ? { namespace, name, selector } : { namespace, name };
}

export type ScopeKind = 'mesh-wide' | 'namespace-wide' | 'workload';

/** mesh-wide (root namespace, no selector), namespace-wide (no selector), or workload. */
export function scopeKind(target: AllowlistTarget, policy: Policy): ScopeKind {
  if (target.selector) return 'workload';
  return target.namespace === policy.meshRootNamespace ? 'mesh-wide' : 'namespace-wide';
}

/** The scope as messages show it, e.g. `workload scope: pods with app=ratings in bookinfo`. */
export function scopeWords(target: AllowlistTarget, policy: Policy): string {
  switch (scopeKind(target, policy)) {
    case 'mesh-wide':
      return 'mesh-wide: every workload in the mesh';
    case 'namespace-wide':
      return `namespace-wide: every workload in ${target.namespace}`;
    case 'workload':
      return `workload scope: pods with ${formatLabels(target.selector ?? {})} in ${target.namespace}`;
  }
}

/** Who would accept plaintext, as the `why` line says it. */
export function who(target: AllowlistTarget, policy: Policy): string {
  switch (scopeKind(target, policy)) {
    case 'mesh-wide':
      return 'every workload in the mesh';
    case 'namespace-wide':
      return `every workload in ${target.namespace}`;
    case 'workload':
      return 'these pods';
  }
}

function shownMode(raw: unknown, mode: PeerAuthenticationMode | 'invalid'): string {
  if (raw === undefined || raw === null) return 'UNSET (absent)';
  return typeof raw === 'string' ? raw : `${String(raw)} (= ${mode})`;
}

/**
 * Findings for every mode field Istio applies (top level, and per port on a workload policy)
 * whose mode satisfies `offends`. Nothing for a policy Istio ignores, for port-level modes of a
 * policy without selector (Istio reads them only from workload policies, and the CRD refuses
 * them), or for a key that is no port number (the CRD refuses the object): `notices.ts` reports
 * those instead, so none of them is read as "all ports".
 */
export function findModes(
  object: unknown,
  target: AllowlistTarget,
  policy: Policy,
  offends: (mode: PeerAuthenticationMode, portLevel: boolean) => boolean,
): Finding[] {
  if (isIgnoredByIstio(target, policy)) return [];
  const scope = scopeWords(target, policy);
  const findings: Finding[] = [];
  const top = dig(object, 'spec', 'mtls', 'mode');
  const topMode = peerMode(top);
  if (topMode !== 'invalid' && offends(topMode, false)) findings.push({ path: 'spec.mtls.mode', value: shownMode(top, topMode), scope });
  if (!target.selector) return findings;
  const ports = asRecord(dig(object, 'spec', 'portLevelMtls'));
  for (const [key, setting] of Object.entries(ports ?? {})) {
    const port = portKey(key);
    const raw = dig(setting, 'mode');
    const mode = peerMode(raw);
    if (port === undefined || mode === 'invalid' || !offends(mode, true)) continue;
    findings.push({ path: `spec.portLevelMtls.${key}.mode`, value: shownMode(raw, mode), scope: `${scope}, port ${port}`, port });
  }
  return findings;
}
