// Flows: what clients send to each Service port and what the server port does with it. Client
// groups come from the DestinationRule indexes (client-side.ts), server ports from the
// PeerAuthentications (server-side.ts), the outcome from outcome.ts; caches are kept per mesh
// generation, so a question never sees an answer computed for another mesh.
import type { ClientGroup, Flow, ServerPort } from '../engine/index.js';
import { clientTlsOf, pickRule, subsetsOf, type ConsolidatedRule } from './client-side.js';
import { selects, type ServiceInfo, type WorkloadInfo } from './objects.js';
import { outcomeOf } from './outcome.js';
import { composePolicies, serverPort } from './server-side.js';
import { OTHER_NAMESPACE, type MeshStore } from './store.js';

/** A client group and the consolidated rule it uses (undefined: none, auto mTLS). */
export interface ClientGroupRule {
  clients: ClientGroup;
  rule: ConsolidatedRule | undefined;
}

const ruleKeys = new WeakMap<ConsolidatedRule, string>();
/** The rules merged into a consolidated rule, as one string (namespaces picking equal ones see equal flows). */
function ruleKey(rule: ConsolidatedRule): string {
  let key = ruleKeys.get(rule);
  if (key === undefined) ruleKeys.set(rule, (key = rule.from.map((d) => `${d.ref.namespace}/${d.ref.name}`).join(' ')));
  return key;
}

/** A server port reached by a flow, or why none is known. */
type Reached = { server: ServerPort } | { missing: string };

// Keyed by the store's own objects, so one store's entries never answer for another.
const portsCache = new WeakMap<WorkloadInfo, { generation: number; ports: number[] }>();
const clientGroupsCache = new WeakMap<ServiceInfo, { generation: number; groups: ClientGroupRule[] }>();

/** The mode a workload's container port enforces under the PeerAuthentications now in the store. */
export function serverPortOf(store: MeshStore, workload: WorkloadInfo, port: number): ServerPort {
  const ns = workload.ref.namespace;
  const policies = composePolicies(
    store.rootNamespace,
    store.peerAuthenticationsByNamespace.get(store.rootNamespace) ?? [],
    store.peerAuthenticationsByNamespace.get(ns) ?? [],
    ns,
    workload.labels,
  );
  return serverPort(workload, store.namespaces.get(ns), policies, port);
}

/** The workloads a Service (or an internal ServiceEntry) selects, in its namespace. */
export function workloadsOf(store: MeshStore, service: ServiceInfo): WorkloadInfo[] {
  if (!service.selector || service.external) return [];
  const selector = service.selector;
  return (store.workloadsByNamespace.get(service.ref.namespace) ?? []).filter((w) => selects(selector, w.labels));
}

/** The container port a Service port reaches on a workload: a number as is, a name through the
 * container's named ports (Kubernetes endpoints). */
function targetOf(workload: WorkloadInfo, targetPort: number | string): number | undefined {
  if (typeof targetPort === 'number') return targetPort;
  return workload.ports.find((p) => p.name === targetPort)?.port;
}

/** Every port a workload serves: its container ports and the Service target ports that reach it. */
export function portsOf(store: MeshStore, workload: WorkloadInfo): number[] {
  // Ports change only with Services and workloads, which only apply/delete change (questions
  // put PeerAuthentications and DestinationRules in place): kept per mesh generation.
  const cached = portsCache.get(workload);
  if (cached && cached.generation === store.generation) return cached.ports;
  const ports = portsNow(store, workload);
  portsCache.set(workload, { generation: store.generation, ports });
  return ports;
}

function portsNow(store: MeshStore, workload: WorkloadInfo): number[] {
  const ports = new Set(workload.ports.map((p) => p.port));
  for (const s of store.servicesByNamespace.get(workload.ref.namespace) ?? []) {
    if (!s.selector || s.external || !selects(s.selector, workload.labels)) continue;
    for (const p of s.ports) {
      const t = targetOf(workload, p.targetPort);
      if (t !== undefined) ports.add(t);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/**
 * Runs a step-wise walk (a generator that yields between small units of work) to its end and
 * returns its answer: the whole-mesh methods are their walks drained, so the two cannot differ.
 */
export function drain<T>(steps: Generator<unknown, T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/**
 * serverPorts, one workload per step. The lists it walks are copied when reached, so the store
 * may change between steps (cluster mode applies informer events there) without the walk
 * throwing; the answer then mixes the mesh before and after the change.
 */
export function* serverPortSteps(store: MeshStore): Generator<void, ServerPort[]> {
  const out: ServerPort[] = [];
  for (const ns of [...store.workloadsByNamespace.keys()].sort()) {
    const workloads = [...(store.workloadsByNamespace.get(ns) ?? [])].sort((a, b) => (a.ref.name < b.ref.name ? -1 : a.ref.name > b.ref.name ? 1 : 0));
    for (const w of workloads) {
      for (const port of portsOf(store, w)) out.push(serverPortOf(store, w, port));
      yield;
    }
  }
  return out;
}

/** Every workload × port and the mode in force there, ordered by namespace, workload, port. */
export function serverPorts(store: MeshStore): ServerPort[] {
  return drain(serverPortSteps(store));
}

/** The client groups for a service, kept until a DestinationRule or a namespace changes (a
 * PeerAuthentication question asks for the same services before and after its change). */
export function clientGroupsOf(store: MeshStore, service: ServiceInfo): ClientGroupRule[] {
  const cached = clientGroupsCache.get(service);
  if (cached && cached.generation === store.clientGeneration) return cached.groups;
  const groups = clientGroupsNow(store, service);
  clientGroupsCache.set(service, { generation: store.clientGeneration, groups });
  return groups;
}

function clientGroupsNow(store: MeshStore, service: ServiceInfo): ClientGroupRule[] {
  // Namespaces that pick the same rules (the client's own copy of a rule or the exported one
  // merge the same way when they hold the same rules) see the same flows: one group.
  const groups = new Map<string, ClientGroupRule>();
  const out: ClientGroupRule[] = [];
  const lookup = store.destinationRules.lookup(service.host, service.ref.namespace);
  // The group of every client whose pick is `rule` (created on first use).
  const groupOf = (rule: ConsolidatedRule | undefined): ClientGroup => {
    const key = rule ? ruleKey(rule) : '';
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { clients: { namespaces: [], otherNamespaces: false }, rule }));
    return group.clients;
  };
  const add = (ns: string, candidates: ConsolidatedRule[]): void => {
    for (const c of candidates) {
      if (c.workloadSelector && c.from[0]?.ref.namespace === ns) {
        out.push({ clients: { namespaces: [ns], otherNamespaces: false, workloadSelector: c.workloadSelector }, rule: c });
      }
    }
    const clients = groupOf(pickRule(candidates, ns, undefined));
    if (ns === OTHER_NAMESPACE) clients.otherNamespaces = true;
    else clients.namespaces.push(ns);
  };
  // Namespaces with a rule of their own for the host (and the root) are asked one by one; the
  // others share one answer when exportTo names no namespace (one pass, in namespace order).
  const deciding = store.destinationRules.namespacesDecidingFor(service.host);
  deciding.add(store.rootNamespace);
  const uniform = lookup.uniform;
  let shared: ClientGroup | undefined;
  if (uniform) {
    shared = groupOf(pickRule(uniform, OTHER_NAMESPACE, undefined));
    shared.otherNamespaces = true;
  }
  for (const ns of store.namespaceList()) {
    if (shared && !deciding.has(ns)) shared.namespaces.push(ns);
    else add(ns, lookup.forNamespace(ns));
  }
  if (!uniform) add(OTHER_NAMESPACE, lookup.forNamespace(OTHER_NAMESPACE));
  out.push(...groups.values());
  return out;
}

function reach(
  store: MeshStore,
  service: ServiceInfo,
  all: readonly WorkloadInfo[],
  targetPort: number | string,
  subsetLabels: Record<string, string> | undefined,
  servers: Map<WorkloadInfo, Map<number, ServerPort>>,
): Reached[] {
  const workloads = subsetLabels ? all.filter((w) => selects(subsetLabels, w.labels)) : all;
  if (workloads.length === 0) return [{ missing: service.external ? 'external' : 'none' }];
  return workloads.map((w) => {
    const port = targetOf(w, targetPort);
    if (port === undefined) return { missing: `named port ${String(targetPort)} is not a container port of ${w.ref.kind} ${w.ref.namespace}/${w.ref.name}` };
    // One server port per workload × port for every client group of the question.
    let byPort = servers.get(w);
    if (!byPort) servers.set(w, (byPort = new Map()));
    let server = byPort.get(port);
    if (!server) byPort.set(port, (server = serverPortOf(store, w, port)));
    return { server };
  });
}

/** The flows to one service, optionally only for client groups whose rule satisfies `useRule`. */
export function flowsOf(store: MeshStore, service: ServiceInfo, useRule?: (rule: ConsolidatedRule | undefined) => boolean): Flow[] {
  const out: Flow[] = [];
  const workloads = workloadsOf(store, service);
  const servers = new Map<WorkloadInfo, Map<number, ServerPort>>();
  for (const { clients, rule } of clientGroupsOf(store, service)) {
    if (useRule && !useRule(rule)) continue;
    const subsets: ({ name: string; labels: Record<string, string> } | undefined)[] = [undefined, ...(rule ? subsetsOf(rule) : [])];
    for (const sp of service.ports) {
      for (const subset of subsets) {
        const { tls, from } = rule ? clientTlsOf(rule, subset?.name, sp.port) : { tls: 'AUTO' as const, from: undefined };
        for (const r of reach(store, service, workloads, sp.targetPort, subset?.labels, servers)) {
          const server = 'server' in r ? r.server : undefined;
          const { outcome, reason } =
            'missing' in r && r.missing !== 'none' && r.missing !== 'external'
              ? { outcome: 'unknown' as const, reason: r.missing }
              : outcomeOf(tls, server, service.external);
          const flow: Flow = {
            clients,
            host: service.host,
            service: service.ref,
            servicePort: sp.port,
            destinationRules: rule ? rule.from.map((d) => d.ref) : [],
            clientTls: tls ?? 'AUTO',
            outcome,
            reason,
          };
          if (subset) flow.subset = subset.name;
          if (from) flow.clientTlsFrom = from;
          if (server) flow.server = server;
          out.push(flow);
        }
      }
    }
  }
  return out;
}

/** Every Service and ServiceEntry host, by namespace in order. */
export function allServices(store: MeshStore): ServiceInfo[] {
  const out: ServiceInfo[] = [];
  for (const ns of [...store.servicesByNamespace.keys()].sort()) out.push(...(store.servicesByNamespace.get(ns) ?? []));
  return out;
}

/** flows, one Service (or ServiceEntry host) per step; the store may change between steps (serverPortSteps). */
export function* flowSteps(store: MeshStore): Generator<void, Flow[]> {
  const out: Flow[] = [];
  for (const s of allServices(store)) {
    for (const f of flowsOf(store, s)) out.push(f);
    yield;
  }
  return out;
}

/** Every flow: each client group × Service (or ServiceEntry host) port × subset × server port. */
export function flows(store: MeshStore): Flow[] {
  return drain(flowSteps(store));
}

/** The services a DestinationRule host reaches: the exact host, or every host under a wildcard. */
export function servicesForHost(store: MeshStore, host: string): ServiceInfo[] {
  if (!host.startsWith('*')) return store.servicesByHost.get(host) ?? [];
  const suffix = host.slice(1);
  return allServices(store).filter((s) => (s.host.startsWith('*') ? s.host === host || s.host.slice(1).endsWith(suffix) : s.host.endsWith(suffix)));
}
