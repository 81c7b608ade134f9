// How mesh-aware rules name what is on the other side of a change: objects, client groups,
// server ports and flows, in the words a person reading a refused `oc apply` needs.
import type { ClientGroup, Flow, MeshObjectRef, ServerPort } from './mesh-view.js';
import { formatLabels } from './read.js';

const MAX_LISTED = 4;

/** `PeerAuthentication istio-system/default`. */
export function refWords(ref: MeshObjectRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

/** Up to four items, then how many more. */
export function listWords(items: readonly string[]): string {
  const unique = [...new Set(items)];
  const shown = unique.slice(0, MAX_LISTED);
  const more = unique.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

/** `clients in bookinfo`, or `clients in every namespace without its own DestinationRule for the
 * host (here: bookinfo, istio-system)`, with a workload selector when one decides. */
export function clientsWords(groups: readonly ClientGroup[]): string {
  const namespaces = [...new Set(groups.flatMap((g) => g.namespaces))].sort();
  const other = groups.some((g) => g.otherNamespaces);
  const selectors = groups
    .filter((g) => g.workloadSelector)
    .map((g) => (Object.keys(g.workloadSelector ?? {}).length ? `pods with ${formatLabels(g.workloadSelector ?? {})}` : 'every pod (empty workloadSelector)'));
  let text = other
    ? `clients in every namespace without its own DestinationRule for the host${namespaces.length ? ` (here: ${listWords(namespaces)})` : ''}`
    : `clients in ${listWords(namespaces)}`;
  if (selectors.length) text += ` (${listWords(selectors)})`;
  return text;
}

/** What set a server port's mode: `STRICT by PeerAuthentication istio-system/default (spec.mtls.mode, mesh-wide)`. */
export function modeWords(server: ServerPort, rootNamespace: string): string {
  if (!server.setBy) return `${server.mode} (Istio's default: no PeerAuthentication sets a mode)`;
  const { ref, path } = server.setBy;
  const level = ref.namespace === rootNamespace ? 'mesh-wide' : path.startsWith('spec.portLevelMtls') ? 'port level' : '';
  return `${server.mode} by ${refWords(ref)} (${path}${level ? `, ${level}` : ''})`;
}

/**
 * Where a group of flows to one Service port lands: `reviews:9080 -> port 9080 of Deployment
 * bookinfo/reviews-v1, reviews-v2 (subsets v1)`; the Service port and the container port both
 * shown when they differ (DestinationRule ports are Service ports, PeerAuthentication ports
 * container ports).
 */
export function targetWords(flows: readonly Flow[]): string {
  const first = flows[0];
  if (!first) return '';
  const byPort = new Map<number, Map<string, MeshObjectRef>>();
  for (const f of flows) {
    if (!f.server) continue;
    const workloads = byPort.get(f.server.port) ?? new Map<string, MeshObjectRef>();
    workloads.set(refWords(f.server.workload), f.server.workload);
    byPort.set(f.server.port, workloads);
  }
  // The first workload in full (kind and namespace), the others of the same port by name.
  const names = (workloads: Map<string, MeshObjectRef>): string[] => [...workloads.values()].map((w, i) => (i === 0 ? refWords(w) : w.name));
  const subsets = [...new Set(flows.flatMap((f) => (f.subset ? [f.subset] : [])))];
  const landing = [...byPort].map(([port, portWorkloads]) => `${port === first.servicePort ? 'port' : 'container port'} ${port} of ${listWords(names(portWorkloads))}`);
  const via = subsets.length ? ` (subset${subsets.length > 1 ? 's' : ''} ${listWords(subsets)} too)` : '';
  return `${first.service.name}:${first.servicePort}${landing.length ? ` -> ${landing.join('; ')}` : ''}${via}`;
}

/** Flows grouped by a key, so one finding covers every workload and client group it shares. */
export function groupFlows(flows: readonly Flow[], key: (f: Flow) => string): Flow[][] {
  const groups = new Map<string, Flow[]>();
  for (const f of flows) {
    const k = key(f);
    const list = groups.get(k);
    if (list) list.push(f);
    else groups.set(k, [f]);
  }
  return [...groups.values()];
}
