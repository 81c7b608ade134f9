// The server side: which PeerAuthentication mode a workload's container port enforces, and the
// field that set it. Follows istio.io/istio pilot/pkg/security/authn ComposePeerAuthentication
// and MergedPeerAuthentication.GetMutualTLSModeForPort.
import { dig, peerMode, portKey, asRecord, type ServerMode, type ServerPort, type SettingSource } from '../engine/index.js';
import { byAge, selects, type NamespaceInfo, type PeerAuthenticationInfo, type WorkloadInfo } from './objects.js';

/** The label that puts a namespace in ambient mode (istio.io docs, "Ambient mode"). */
export const AMBIENT_LABEL = 'istio.io/dataplane-mode';

/** The PeerAuthentications that apply to a workload, as ComposePeerAuthentication picks them:
 * the oldest mesh-wide (root namespace, no selector), the oldest namespace-wide, and the oldest
 * workload policy whose selector matches (a root-namespace policy with a selector applies to
 * nothing). Oldest = creationTimestamp, then name (Istio sorts configs by creation time, then name). */
export interface ComposedPolicies {
  mesh?: PeerAuthenticationInfo;
  namespace?: PeerAuthenticationInfo;
  workload?: PeerAuthenticationInfo;
}

function oldest(list: readonly PeerAuthenticationInfo[]): PeerAuthenticationInfo | undefined {
  let best: PeerAuthenticationInfo | undefined;
  for (const p of list) if (!best || byAge(p, best) < 0) best = p;
  return best;
}

/** Picks the policies for a workload in `namespace` with pod labels `labels`. */
export function composePolicies(
  rootNamespace: string,
  rootPolicies: readonly PeerAuthenticationInfo[],
  namespacePolicies: readonly PeerAuthenticationInfo[],
  namespace: string,
  labels: Record<string, string>,
): ComposedPolicies {
  const out: ComposedPolicies = {};
  const mesh = oldest(rootPolicies.filter((p) => !p.selector));
  if (mesh) out.mesh = mesh;
  if (namespace === rootNamespace) return out;
  const ns = oldest(namespacePolicies.filter((p) => !p.selector));
  if (ns) out.namespace = ns;
  const workload = oldest(namespacePolicies.filter((p) => p.selector !== undefined && selects(p.selector, labels)));
  if (workload) out.workload = workload;
  return out;
}

function topMode(p: PeerAuthenticationInfo | undefined): SettingSource & { mode: ServerMode } | undefined {
  if (!p) return undefined;
  const mode = peerMode(dig(p.object, 'spec', 'mtls', 'mode'));
  if (mode === 'UNSET' || mode === 'invalid') return undefined;
  return { ref: p.ref, path: 'spec.mtls.mode', mode };
}

/**
 * The mode a port enforces under the composed policies: the workload policy's port-level mode
 * (UNSET inherits), else the workload, namespace, then mesh mode that is not UNSET, else
 * PERMISSIVE. A mode value that is no mode at all is read as UNSET (the API server refuses it).
 * @param port a container port number.
 */
export function modeForPort(policies: ComposedPolicies, port: number): { mode: ServerMode; setBy?: SettingSource } {
  let result: { mode: ServerMode; setBy?: SettingSource } = { mode: 'PERMISSIVE' };
  for (const level of [policies.mesh, policies.namespace, policies.workload]) {
    const m = topMode(level);
    if (m) result = { mode: m.mode, setBy: { ref: m.ref, path: m.path } };
  }
  const w = policies.workload;
  if (w) {
    const ports = asRecord(dig(w.object, 'spec', 'portLevelMtls')) ?? {};
    for (const [key, setting] of Object.entries(ports)) {
      if (portKey(key) !== port) continue;
      const mode = peerMode(dig(setting, 'mode'));
      if (mode !== 'UNSET' && mode !== 'invalid') result = { mode, setBy: { ref: w.ref, path: `spec.portLevelMtls.${key}.mode` } };
    }
  }
  return result;
}

/** Whether pods from the template get a sidecar: the template's own choice, else the namespace's
 * `istio-injection` / `istio.io/rev` label (Istio's injection webhooks); a namespace the snapshot
 * does not hold is assumed injected for `scan` (flagged `sidecarAssumed`), and the rules do not
 * judge such ports: nothing is denied on a guess about a missing Namespace. */
export function hasSidecar(workload: WorkloadInfo, namespace: NamespaceInfo | undefined): boolean {
  if (workload.injection !== 'default') return workload.injection === 'in';
  if (!namespace) return true;
  const label = namespace.labels['istio-injection'];
  if (label !== undefined) return label === 'enabled';
  return namespace.labels['istio.io/rev'] !== undefined;
}

/** True for a namespace in ambient mode. */
export function isAmbient(namespace: NamespaceInfo | undefined): boolean {
  return namespace?.labels[AMBIENT_LABEL] === 'ambient';
}

/** One server port: the mode in force (DISABLE reads as PERMISSIVE in ambient namespaces). */
export function serverPort(workload: WorkloadInfo, namespace: NamespaceInfo | undefined, policies: ComposedPolicies, port: number): ServerPort {
  const { mode, setBy } = modeForPort(policies, port);
  const ambient = isAmbient(namespace);
  const out: ServerPort = { workload: workload.ref, port, mode: ambient && mode === 'DISABLE' ? 'PERMISSIVE' : mode, sidecar: !ambient && hasSidecar(workload, namespace), ambient };
  if (!namespace && workload.injection === 'default') out.sidecarAssumed = true;
  if (setBy) out.setBy = setBy;
  return out;
}
