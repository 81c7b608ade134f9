// The effect of a change: the flows a DestinationRule decides once it is in place (or that lose
// it on DELETE), and what a PeerAuthentication breaks or opens compared with the version it
// replaces. Each question puts the changed object in place in the store and puts the stored one
// back (store.withReplaced), so the indexes are never copied.
import type { AuthorizationConflict, ClientGroup, Flow, MeshObjectRef, PeerAuthenticationEffect, ServerPort } from '../engine/index.js';
import type { ConsolidatedRule } from './client-side.js';
import { drain, flowsOf, portsOf, serverPortOf, servicesForHost } from './flows.js';
import { objectKey, readMeshObject, selects, type AuthorizationPolicyInfo, type DestinationRuleInfo, type ServiceInfo, type WorkloadInfo } from './objects.js';
import type { MeshStore } from './store.js';

/**
 * The flows DestinationRule `namespace/name` decides with `object` in place of its stored version
 * (MeshView.destinationRuleFlows). With `object` undefined (a DELETE): the flows of the clients
 * that used it, as they are once it is gone.
 */
export function destinationRuleFlows(store: MeshStore, object: unknown, namespace: string, name: string): Flow[] {
  const key = objectKey('networking.istio.io', 'DestinationRule', namespace, name);
  const stored = store.objects.get(key);
  const uses = (dr: DestinationRuleInfo) => (rule: ConsolidatedRule | undefined) => rule?.from.some((d) => d.ref.namespace === dr.ref.namespace && d.ref.name === dr.ref.name) ?? false;
  if (object === undefined) {
    if (stored?.type !== 'destinationRule') return [];
    const services = servicesForHost(store, stored.info.host);
    const before = services.flatMap((s) => flowsOf(store, s, uses(stored.info)));
    const clientNamespaces = new Set(before.flatMap((f) => f.clients.namespaces));
    const other = before.some((f) => f.clients.otherNamespaces);
    return store.withReplaced('networking.istio.io', 'DestinationRule', namespace, name, undefined, () =>
      services.flatMap((s) => flowsOf(store, s)).filter((f) => (other && f.clients.otherNamespaces) || f.clients.namespaces.some((n) => clientNamespaces.has(n))),
    );
  }
  return store.withReplaced('networking.istio.io', 'DestinationRule', namespace, name, object, () => {
    const now = store.objects.get(key);
    if (now?.type !== 'destinationRule') return [];
    return servicesForHost(store, now.info.host).flatMap((s) => flowsOf(store, s, uses(now.info)));
  });
}

/** Workloads the versions of a PeerAuthentication in `namespace` can reach: those its selectors
 * match, every workload of the namespace for one without a selector, all of them for the root. */
function workloadsUnder(store: MeshStore, namespace: string, versions: unknown[]): WorkloadInfo[] {
  if (namespace === store.rootNamespace) return [...store.workloadsByNamespace.values()].flat();
  const all = store.workloadsByNamespace.get(namespace) ?? [];
  const selectors: Record<string, string>[] = [];
  for (const v of versions) {
    if (v === undefined || v === null) continue;
    const read = readMeshObject(store.withIdentity(v, namespace, 'selector'), store.policy, namespace);
    if (read?.type !== 'peerAuthentication' || !read.info.selector) return all;
    selectors.push(read.info.selector);
  }
  return all.filter((w) => selectors.some((sel) => selects(sel, w.labels)));
}

function authorizationPoliciesOn(store: MeshStore, workload: WorkloadInfo): AuthorizationPolicyInfo[] {
  const applies = (p: AuthorizationPolicyInfo) => p.identityPaths.length > 0 && (!p.selector || selects(p.selector, workload.labels));
  const own = (store.authorizationPoliciesByNamespace.get(workload.ref.namespace) ?? []).filter(applies);
  if (workload.ref.namespace === store.rootNamespace) return own;
  return [...own, ...(store.authorizationPoliciesByNamespace.get(store.rootNamespace) ?? []).filter(applies)];
}

/** Plaintext defeats the policy: DISABLE refuses every ALLOW-by-identity caller and skips every
 * DENY-by-identity rule; PERMISSIVE lets plaintext callers past DENY-by-identity rules. */
function defeats(server: ServerPort, action: AuthorizationPolicyInfo['action']): boolean {
  if (!server.sidecar || server.sidecarAssumed || server.ambient) return false;
  if (server.mode === 'DISABLE') return action === 'ALLOW' || action === 'DENY';
  return server.mode === 'PERMISSIVE' && action === 'DENY';
}

function conflictsOn(store: MeshStore, workload: WorkloadInfo, port: number, server: ServerPort): AuthorizationConflict[] {
  const out: AuthorizationConflict[] = [];
  for (const p of authorizationPoliciesOn(store, workload)) {
    if (p.action === 'OTHER' || (p.ports && !p.ports.includes(port)) || !defeats(server, p.action)) continue;
    out.push({ server, authorizationPolicy: p.ref, action: p.action, paths: p.identityPaths });
  }
  return out;
}

/** authorizationConflicts, one workload per step; the store may change between steps (serverPortSteps). */
export function* authorizationConflictSteps(store: MeshStore): Generator<void, AuthorizationConflict[]> {
  const out: AuthorizationConflict[] = [];
  for (const ns of [...store.workloadsByNamespace.keys()].sort()) {
    for (const w of [...(store.workloadsByNamespace.get(ns) ?? [])]) {
      for (const port of portsOf(store, w)) out.push(...conflictsOn(store, w, port, serverPortOf(store, w, port)));
      yield;
    }
  }
  return out;
}

/** Every plaintext-accepting server port under an AuthorizationPolicy that matches identity. */
export function authorizationConflicts(store: MeshStore): AuthorizationConflict[] {
  return drain(authorizationConflictSteps(store));
}

/**
 * What PeerAuthentication `namespace/name` as `object` breaks or opens compared with `previous`
 * in its place (MeshView.peerAuthenticationEffect): flows newly refused by the server side, and
 * new authorization conflicts on the ports it sets. Only ports whose mode changes get flows.
 */
export function peerAuthenticationEffect(store: MeshStore, object: unknown, namespace: string, name: string, previous: unknown): PeerAuthenticationEffect {
  const workloads = workloadsUnder(store, namespace, [object, previous, object === undefined && previous === undefined ? store.storedObject('security.istio.io', 'PeerAuthentication', namespace, name) : undefined]);
  const ports = workloads.map((w) => ({ w, ports: portsOf(store, w) }));
  const serverPorts = () => ports.flatMap(({ w, ports: list }) => list.map((port) => ({ w, port, server: serverPortOf(store, w, port) })));
  const inPlace = <T>(o: unknown, fn: () => T): T => store.withReplaced('security.istio.io', 'PeerAuthentication', namespace, name, o, fn);
  // Before: the mesh with the version this one replaces (none for a CREATE; for a DELETE the
  // deleted version, else the stored one). After: with the admitted one (a DELETE: without it).
  const before = <T>(fn: () => T): T => (previous !== undefined ? inPlace(previous, fn) : object === undefined ? fn() : inPlace(undefined, fn));
  const after = <T>(fn: () => T): T => inPlace(object, fn);
  const portsBefore = before(serverPorts);
  const portsAfter = after(serverPorts);
  // Only a port whose mode changes can change a call's outcome: flows are computed for those.
  const workloadKey = (w: MeshObjectRef) => `${w.kind}/${w.namespace}/${w.name}`;
  const changed = new Set<string>();
  portsAfter.forEach((p, i) => {
    const b = portsBefore[i];
    if (b && (b.server.mode !== p.server.mode || b.server.sidecar !== p.server.sidecar)) changed.add(`${workloadKey(p.server.workload)}:${p.port}`);
  });
  const changedWorkloads = new Set([...changed].map((k) => k.slice(0, k.lastIndexOf(':'))));
  const services = new Set<ServiceInfo>();
  for (const w of workloads) {
    if (!changedWorkloads.has(workloadKey(w.ref))) continue;
    for (const svc of store.servicesByNamespace.get(w.ref.namespace) ?? []) if (svc.selector && !svc.external && selects(svc.selector, w.labels)) services.add(svc);
  }
  // Client groups are the same objects before and after (a PeerAuthentication does not change
  // what clients pick), so they key by identity.
  const groupIds = new Map<ClientGroup, number>();
  const groupId = (g: ClientGroup) => groupIds.get(g) ?? (groupIds.set(g, groupIds.size), groupIds.size - 1);
  const flowKey = (f: Flow) => `${groupId(f.clients)}|${f.service.namespace}/${f.service.name}|${f.servicePort}|${f.subset ?? ''}|${f.server ? `${workloadKey(f.server.workload)}:${f.server.port}` : ''}`;
  const changedFlows = () => [...services].flatMap((svc) => flowsOf(store, svc)).filter((f) => f.server && changed.has(`${workloadKey(f.server.workload)}:${f.server.port}`));
  const flowsBefore = before(changedFlows);
  const flowsAfter = after(changedFlows);
  const brokenBefore = new Set(flowsBefore.filter((f) => f.outcome === 'broken').map(flowKey));
  const newlyBroken = flowsAfter.filter((f) => f.outcome === 'broken' && !brokenBefore.has(flowKey(f)));
  // Ports a proxy is known to enforce that refused plaintext before and take it after.
  const newlyPlaintext = portsAfter
    .filter(({ server }, i) => portsBefore[i]?.server.mode === 'STRICT' && server.mode !== 'STRICT' && (server.sidecar || server.ambient) && !server.sidecarAssumed)
    .map(({ server }) => server);
  const conflictKey = (c: AuthorizationConflict) => JSON.stringify([c.server.workload, c.server.port, c.authorizationPolicy]);
  const conflictsBefore = new Set(portsBefore.flatMap(({ w, port, server }) => conflictsOn(store, w, port, server)).map(conflictKey));
  // The ports this object sets after the change; after a DELETE, the ports whose mode it changed.
  const isThis = (sp: ServerPort) => sp.setBy?.ref.kind === 'PeerAuthentication' && sp.setBy.ref.namespace === namespace && sp.setBy.ref.name === name;
  const judged = (server: ServerPort) => (object === undefined ? changed.has(`${workloadKey(server.workload)}:${server.port}`) : isThis(server));
  const authorizationConflicts = portsAfter
    .filter(({ server }) => judged(server))
    .flatMap(({ w, port, server }) => conflictsOn(store, w, port, server))
    .filter((c) => !conflictsBefore.has(conflictKey(c)));
  return { newlyBroken, newlyPlaintext, authorizationConflicts };
}
