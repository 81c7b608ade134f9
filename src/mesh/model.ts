// The mesh model: the objects of one mesh, indexed so that a question about one admitted object
// touches only what that object can reach. Built once, then kept current object by object
// (`apply`/`delete`); never rebuilt per request. A question about a change (`destinationRuleFlows`,
// `peerAuthenticationEffect`) puts the changed object in place, answers, and puts the stored one
// back: synchronous, so no other question sees the interim state.
import type {
  AuthorizationConflict,
  ClientGroup,
  Flow,
  MeshObjectRef,
  MeshView,
  PeerAuthenticationEffect,
  Policy,
  ServerPort,
} from '../engine/index.js';
import { clientTlsOf, DestinationRuleIndex, pickRule, subsetsOf, type ConsolidatedRule } from './client-side.js';
import {
  objectKey,
  readMeshObject,
  selects,
  type AuthorizationPolicyInfo,
  type DestinationRuleInfo,
  type MeshObject,
  type NamespaceInfo,
  type PeerAuthenticationInfo,
  type ServiceInfo,
  type WorkloadInfo,
} from './objects.js';
import { outcomeOf } from './outcome.js';
import { composePolicies, serverPort } from './server-side.js';

/** How the model keys an object: API group, kind, namespace ('' when cluster-scoped), name. */
export interface MeshObjectKey {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

/** A namespace name no Kubernetes namespace can have: stands for "every namespace not in the snapshot". */
const OTHER_NAMESPACE = '<other>';

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function removeFrom<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)?.filter((v) => v !== value) ?? [];
  if (list.length) map.set(key, list);
  else map.delete(key);
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

/**
 * The mesh as Istio sees it, from a snapshot of PeerAuthentications, DestinationRules, Services,
 * ServiceEntries, Namespaces, AuthorizationPolicies and the workload kinds' pod templates.
 * Objects of other kinds are ignored. Pure and synchronous.
 */
export class MeshModel implements MeshView {
  readonly rootNamespace: string;
  private readonly objects = new Map<string, MeshObject>();
  private readonly namespaces = new Map<string, NamespaceInfo>();
  /** Every namespace any object lives in or exports to, with a use count. */
  private readonly knownNamespaces = new Map<string, number>();
  private readonly workloadsByNamespace = new Map<string, WorkloadInfo[]>();
  private readonly servicesByNamespace = new Map<string, ServiceInfo[]>();
  private readonly servicesByHost = new Map<string, ServiceInfo[]>();
  private readonly peerAuthenticationsByNamespace = new Map<string, PeerAuthenticationInfo[]>();
  private readonly authorizationPoliciesByNamespace = new Map<string, AuthorizationPolicyInfo[]>();
  private readonly destinationRules: DestinationRuleIndex;
  /** Bumped by every apply/delete: answers remembered for an older mesh are not reused. */
  private generation = 0;
  /** The last answer per question: the mesh-aware rules of one admission ask the same question
   * (peerauthentication-strict-conflict and -authz-conflict both ask for the effect). */
  private readonly remembered = new Map<string, { objects: unknown[]; generation: number; answer: unknown }>();

  /** The answer to `question` about these objects (compared by identity) on this mesh. */
  private remember<T>(question: string, objects: unknown[], answer: () => T): T {
    const last = this.remembered.get(question);
    if (last && last.generation === this.generation && last.objects.length === objects.length && last.objects.every((o, i) => o === objects[i])) return last.answer as T;
    const value = answer();
    this.remembered.clear();
    this.remembered.set(question, { objects, generation: this.generation, answer: value });
    return value;
  }

  private constructor(readonly policy: Policy) {
    this.rootNamespace = policy.meshRootNamespace;
    this.destinationRules = new DestinationRuleIndex(this.rootNamespace);
  }

  /**
   * Builds the model from manifests (`apiVersion`, `kind`, `metadata`, `spec`, as read from YAML
   * or an informer). Later objects with the same key replace earlier ones.
   * @param objects any JSON values; those that are not a kind the model uses are skipped.
   * @param policy gives the root namespace, cluster domain and workload kinds.
   */
  static build(objects: Iterable<unknown>, policy: Policy): MeshModel {
    const model = new MeshModel(policy);
    for (const o of objects) model.apply(o);
    return model;
  }

  /** Number of objects the model holds. */
  get size(): number {
    return this.objects.size;
  }

  /**
   * Adds or replaces one object (incremental: only that object's indexes change).
   * @param defaultNamespace the namespace of a namespaced object that names none (`check -n`).
   * @returns the key it is stored under, or undefined when the model does not use the object.
   */
  apply(object: unknown, defaultNamespace = 'default'): MeshObjectKey | undefined {
    const read = readMeshObject(object, this.policy, defaultNamespace);
    if (!read) return undefined;
    this.generation++;
    const key = this.keyOf(object, read);
    this.deleteByKey(objectKey(key.group, key.kind, key.namespace, key.name));
    this.insert(objectKey(key.group, key.kind, key.namespace, key.name), read);
    return key;
  }

  /** Removes one object; unknown keys are ignored. */
  delete(key: MeshObjectKey): void {
    this.generation++;
    this.deleteByKey(objectKey(key.group, key.kind, key.namespace, key.name));
  }

  private keyOf(object: unknown, read: MeshObject): MeshObjectKey {
    const apiVersion = (object as { apiVersion: string }).apiVersion;
    const slash = apiVersion.indexOf('/');
    const group = slash < 0 ? '' : apiVersion.slice(0, slash);
    const ref = read.type === 'service' ? read.info[0]?.ref : read.info.ref;
    const name = ref?.name ?? '';
    const namespace = ref?.namespace ?? '';
    return { group, kind: ref?.kind ?? '', namespace, name };
  }

  private countNamespace(ns: string, by: number): void {
    if (ns === '') return;
    const n = (this.knownNamespaces.get(ns) ?? 0) + by;
    if (n > 0) this.knownNamespaces.set(ns, n);
    else this.knownNamespaces.delete(ns);
    if (n === 0 || n === by) {
      this.sortedNamespaces = undefined;
      this.clientGeneration++;
    }
  }

  /** The known namespaces in order, kept until one appears or disappears. */
  private sortedNamespaces: string[] | undefined;
  private namespaceList(): string[] {
    this.sortedNamespaces ??= [...this.knownNamespaces.keys()].sort();
    return this.sortedNamespaces;
  }

  private namespacesOf(read: MeshObject): string[] {
    switch (read.type) {
      case 'namespace':
        return [read.info.ref.name];
      case 'service':
        return read.info.map((s) => s.ref.namespace).slice(0, 1);
      case 'destinationRule':
        return [read.info.ref.namespace, ...read.info.exportTo.filter((e) => e !== '*' && e !== '.' && e !== '~')];
      default:
        return [read.info.ref.namespace];
    }
  }

  private insert(key: string, read: MeshObject): void {
    this.objects.set(key, read);
    for (const ns of this.namespacesOf(read)) this.countNamespace(ns, 1);
    switch (read.type) {
      case 'namespace':
        this.namespaces.set(read.info.ref.name, read.info);
        break;
      case 'workload':
        pushTo(this.workloadsByNamespace, read.info.ref.namespace, read.info);
        break;
      case 'service':
        for (const s of read.info) {
          pushTo(this.servicesByNamespace, s.ref.namespace, s);
          pushTo(this.servicesByHost, s.host, s);
        }
        break;
      case 'peerAuthentication':
        pushTo(this.peerAuthenticationsByNamespace, read.info.ref.namespace, read.info);
        break;
      case 'authorizationPolicy':
        pushTo(this.authorizationPoliciesByNamespace, read.info.ref.namespace, read.info);
        break;
      case 'destinationRule':
        this.destinationRules.add(read.info);
        this.clientGeneration++;
        break;
    }
  }

  private deleteByKey(key: string): MeshObject | undefined {
    const read = this.objects.get(key);
    if (!read) return undefined;
    this.objects.delete(key);
    for (const ns of this.namespacesOf(read)) this.countNamespace(ns, -1);
    switch (read.type) {
      case 'namespace':
        this.namespaces.delete(read.info.ref.name);
        break;
      case 'workload':
        removeFrom(this.workloadsByNamespace, read.info.ref.namespace, read.info);
        break;
      case 'service':
        for (const s of read.info) {
          removeFrom(this.servicesByNamespace, s.ref.namespace, s);
          removeFrom(this.servicesByHost, s.host, s);
        }
        break;
      case 'peerAuthentication':
        removeFrom(this.peerAuthenticationsByNamespace, read.info.ref.namespace, read.info);
        break;
      case 'authorizationPolicy':
        removeFrom(this.authorizationPoliciesByNamespace, read.info.ref.namespace, read.info);
        break;
      case 'destinationRule':
        this.destinationRules.remove(read.info);
        this.clientGeneration++;
        break;
    }
    return read;
  }

  /** Runs `fn` with `object` in place of the stored `group/kind/namespace/name` (or without it when
   * `object` is undefined), then restores the stored one. */
  private withReplaced<T>(group: string, kind: string, namespace: string, name: string, object: unknown, fn: () => T): T {
    const key = objectKey(group, kind, namespace, name);
    const stored = this.deleteByKey(key);
    const read = object === undefined ? undefined : readMeshObject(this.withIdentity(object, namespace, name), this.policy, namespace);
    if (read) this.insert(key, read);
    try {
      return fn();
    } finally {
      this.deleteByKey(key);
      if (stored) this.insert(key, stored);
    }
  }

  /** The admitted object as the API server will store it: in the request's namespace, with its name. */
  private withIdentity(object: unknown, namespace: string, name: string): unknown {
    const o = object as { metadata?: Record<string, unknown> };
    return { ...o, metadata: { ...(o.metadata ?? {}), namespace, name } };
  }

  // ---- server side -------------------------------------------------------------------------

  private serverPortOf(workload: WorkloadInfo, port: number): ServerPort {
    const ns = workload.ref.namespace;
    const policies = composePolicies(
      this.rootNamespace,
      this.peerAuthenticationsByNamespace.get(this.rootNamespace) ?? [],
      this.peerAuthenticationsByNamespace.get(ns) ?? [],
      ns,
      workload.labels,
    );
    return serverPort(workload, this.namespaces.get(ns), policies, port);
  }

  /** The workloads a Service (or an internal ServiceEntry) selects, in its namespace. */
  private workloadsOf(service: ServiceInfo): WorkloadInfo[] {
    if (!service.selector || service.external) return [];
    const selector = service.selector;
    return (this.workloadsByNamespace.get(service.ref.namespace) ?? []).filter((w) => selects(selector, w.labels));
  }

  /** The container port a Service port reaches on a workload: a number as is, a name through the
   * container's named ports (Kubernetes endpoints). */
  private targetOf(workload: WorkloadInfo, targetPort: number | string): number | undefined {
    if (typeof targetPort === 'number') return targetPort;
    return workload.ports.find((p) => p.name === targetPort)?.port;
  }

  /** Every port a workload serves: its container ports and the Service target ports that reach it. */
  private portsOf(workload: WorkloadInfo): number[] {
    // Ports change only with Services and workloads, which only apply/delete change (questions
    // put PeerAuthentications and DestinationRules in place): kept per mesh generation.
    const cached = this.portsCache.get(workload);
    if (cached && cached.generation === this.generation) return cached.ports;
    const ports = this.portsNow(workload);
    this.portsCache.set(workload, { generation: this.generation, ports });
    return ports;
  }

  private readonly portsCache = new WeakMap<WorkloadInfo, { generation: number; ports: number[] }>();

  private portsNow(workload: WorkloadInfo): number[] {
    const ports = new Set(workload.ports.map((p) => p.port));
    for (const s of this.servicesByNamespace.get(workload.ref.namespace) ?? []) {
      if (!s.selector || s.external || !selects(s.selector, workload.labels)) continue;
      for (const p of s.ports) {
        const t = this.targetOf(workload, p.targetPort);
        if (t !== undefined) ports.add(t);
      }
    }
    return [...ports].sort((a, b) => a - b);
  }

  /** Every workload × port and the mode in force there, ordered by namespace, workload, port. */
  serverPorts(): ServerPort[] {
    const out: ServerPort[] = [];
    for (const ns of [...this.workloadsByNamespace.keys()].sort()) {
      const workloads = [...(this.workloadsByNamespace.get(ns) ?? [])].sort((a, b) => (a.ref.name < b.ref.name ? -1 : a.ref.name > b.ref.name ? 1 : 0));
      for (const w of workloads) for (const port of this.portsOf(w)) out.push(this.serverPortOf(w, port));
    }
    return out;
  }

  // ---- client side and flows ---------------------------------------------------------------

  /** The client groups for a service and the rule each uses (Istio's pick per client namespace). */
  /** Bumped whenever what clients pick can change: a DestinationRule or the set of namespaces
   * (also inside a question that puts a DestinationRule in place). */
  private clientGeneration = 0;
  private readonly clientGroupsCache = new WeakMap<ServiceInfo, { generation: number; groups: { clients: ClientGroup; rule: ConsolidatedRule | undefined }[] }>();

  /** The client groups for a service, kept until a DestinationRule or a namespace changes (a
   * PeerAuthentication question asks for the same services before and after its change). */
  private clientGroupsOf(service: ServiceInfo): { clients: ClientGroup; rule: ConsolidatedRule | undefined }[] {
    const cached = this.clientGroupsCache.get(service);
    if (cached && cached.generation === this.clientGeneration) return cached.groups;
    const groups = this.clientGroupsNow(service);
    this.clientGroupsCache.set(service, { generation: this.clientGeneration, groups });
    return groups;
  }

  private clientGroupsNow(service: ServiceInfo): { clients: ClientGroup; rule: ConsolidatedRule | undefined }[] {
    // Namespaces that pick the same rules (the client's own copy of a rule or the exported one
    // merge the same way when they hold the same rules) see the same flows: one group.
    const groups = new Map<string, { clients: ClientGroup; rule: ConsolidatedRule | undefined }>();
    const out: { clients: ClientGroup; rule: ConsolidatedRule | undefined }[] = [];
    const lookup = this.destinationRules.lookup(service.host, service.ref.namespace);
    const add = (ns: string, candidates: ConsolidatedRule[]): void => {
      for (const c of candidates) {
        if (c.workloadSelector && c.from[0]?.ref.namespace === ns) {
          out.push({ clients: { namespaces: [ns], otherNamespaces: false, workloadSelector: c.workloadSelector }, rule: c });
        }
      }
      const rule = pickRule(candidates, ns, undefined);
      const key = rule ? ruleKey(rule) : '';
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { clients: { namespaces: [], otherNamespaces: false }, rule }));
      if (ns === OTHER_NAMESPACE) group.clients.otherNamespaces = true;
      else group.clients.namespaces.push(ns);
    };
    // Namespaces with a rule of their own for the host (and the root) are asked one by one; the
    // others share one answer when exportTo names no namespace (one pass, in namespace order).
    const deciding = this.destinationRules.namespacesDecidingFor(service.host);
    deciding.add(this.rootNamespace);
    const uniform = lookup.uniform;
    let shared: ClientGroup | undefined;
    if (uniform) {
      const rule = pickRule(uniform, OTHER_NAMESPACE, undefined);
      const key = rule ? ruleKey(rule) : '';
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { clients: { namespaces: [], otherNamespaces: true }, rule }));
      group.clients.otherNamespaces = true;
      shared = group.clients;
    }
    for (const ns of this.namespaceList()) {
      if (shared && !deciding.has(ns)) shared.namespaces.push(ns);
      else add(ns, lookup.forNamespace(ns));
    }
    if (!uniform) add(OTHER_NAMESPACE, lookup.forNamespace(OTHER_NAMESPACE));
    out.push(...groups.values());
    return out;
  }

  private reach(
    service: ServiceInfo,
    all: readonly WorkloadInfo[],
    targetPort: number | string,
    subsetLabels: Record<string, string> | undefined,
    servers: Map<WorkloadInfo, Map<number, ServerPort>>,
  ): Reached[] {
    const workloads = subsetLabels ? all.filter((w) => selects(subsetLabels, w.labels)) : all;
    if (workloads.length === 0) return [{ missing: service.external ? 'external' : 'none' }];
    return workloads.map((w) => {
      const port = this.targetOf(w, targetPort);
      if (port === undefined) return { missing: `named port ${String(targetPort)} is not a container port of ${w.ref.kind} ${w.ref.namespace}/${w.ref.name}` };
      // One server port per workload × port for every client group of the question.
      let byPort = servers.get(w);
      if (!byPort) servers.set(w, (byPort = new Map()));
      let server = byPort.get(port);
      if (!server) byPort.set(port, (server = this.serverPortOf(w, port)));
      return { server };
    });
  }

  /** The flows to one service, optionally only for client groups whose rule satisfies `useRule`. */
  private flowsOf(service: ServiceInfo, useRule?: (rule: ConsolidatedRule | undefined) => boolean): Flow[] {
    const out: Flow[] = [];
    const workloads = this.workloadsOf(service);
    const servers = new Map<WorkloadInfo, Map<number, ServerPort>>();
    for (const { clients, rule } of this.clientGroupsOf(service)) {
      if (useRule && !useRule(rule)) continue;
      const subsets: ({ name: string; labels: Record<string, string> } | undefined)[] = [undefined, ...(rule ? subsetsOf(rule) : [])];
      for (const sp of service.ports) {
        for (const subset of subsets) {
          const { tls, from } = rule ? clientTlsOf(rule, subset?.name, sp.port) : { tls: 'AUTO' as const, from: undefined };
          for (const r of this.reach(service, workloads, sp.targetPort, subset?.labels, servers)) {
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

  private allServices(): ServiceInfo[] {
    const out: ServiceInfo[] = [];
    for (const ns of [...this.servicesByNamespace.keys()].sort()) out.push(...(this.servicesByNamespace.get(ns) ?? []));
    return out;
  }

  /** Every flow: each client group × Service (or ServiceEntry host) port × subset × server port. */
  flows(): Flow[] {
    return this.allServices().flatMap((s) => this.flowsOf(s));
  }

  /** The services a DestinationRule host reaches: the exact host, or every host under a wildcard. */
  private servicesForHost(host: string): ServiceInfo[] {
    if (!host.startsWith('*')) return this.servicesByHost.get(host) ?? [];
    const suffix = host.slice(1);
    return this.allServices().filter((s) => (s.host.startsWith('*') ? s.host === host || s.host.slice(1).endsWith(suffix) : s.host.endsWith(suffix)));
  }

  destinationRuleFlows(object: unknown, namespace: string, name: string): Flow[] {
    return this.remember(`DestinationRule ${namespace}/${name}`, [object], () => this.destinationRuleFlowsNow(object, namespace, name));
  }

  private destinationRuleFlowsNow(object: unknown, namespace: string, name: string): Flow[] {
    const key = objectKey('networking.istio.io', 'DestinationRule', namespace, name);
    const stored = this.objects.get(key);
    const uses = (dr: DestinationRuleInfo) => (rule: ConsolidatedRule | undefined) => rule?.from.some((d) => d.ref.namespace === dr.ref.namespace && d.ref.name === dr.ref.name) ?? false;
    if (object === undefined) {
      if (stored?.type !== 'destinationRule') return [];
      const services = this.servicesForHost(stored.info.host);
      const before = services.flatMap((s) => this.flowsOf(s, uses(stored.info)));
      const clientNamespaces = new Set(before.flatMap((f) => f.clients.namespaces));
      const other = before.some((f) => f.clients.otherNamespaces);
      return this.withReplaced('networking.istio.io', 'DestinationRule', namespace, name, undefined, () =>
        services.flatMap((s) => this.flowsOf(s)).filter((f) => (other && f.clients.otherNamespaces) || f.clients.namespaces.some((n) => clientNamespaces.has(n))),
      );
    }
    return this.withReplaced('networking.istio.io', 'DestinationRule', namespace, name, object, () => {
      const now = this.objects.get(key);
      if (now?.type !== 'destinationRule') return [];
      return this.servicesForHost(now.info.host).flatMap((s) => this.flowsOf(s, uses(now.info)));
    });
  }

  // ---- PeerAuthentication changes ----------------------------------------------------------

  /** Workloads the versions of a PeerAuthentication in `namespace` can reach: those its selectors
   * match, every workload of the namespace for one without a selector, all of them for the root. */
  private workloadsUnder(namespace: string, versions: unknown[]): WorkloadInfo[] {
    if (namespace === this.rootNamespace) return [...this.workloadsByNamespace.values()].flat();
    const all = this.workloadsByNamespace.get(namespace) ?? [];
    const selectors: Record<string, string>[] = [];
    for (const v of versions) {
      if (v === undefined || v === null) continue;
      const read = readMeshObject(this.withIdentity(v, namespace, 'selector'), this.policy, namespace);
      if (read?.type !== 'peerAuthentication' || !read.info.selector) return all;
      selectors.push(read.info.selector);
    }
    return all.filter((w) => selectors.some((sel) => selects(sel, w.labels)));
  }

  /** The stored object, as read. */
  private storedObject(group: string, kind: string, namespace: string, name: string): unknown {
    const stored = this.objects.get(objectKey(group, kind, namespace, name));
    return stored?.type === 'peerAuthentication' ? stored.info.object : undefined;
  }

  private authorizationPoliciesOn(workload: WorkloadInfo): AuthorizationPolicyInfo[] {
    const applies = (p: AuthorizationPolicyInfo) => p.identityPaths.length > 0 && (!p.selector || selects(p.selector, workload.labels));
    const own = (this.authorizationPoliciesByNamespace.get(workload.ref.namespace) ?? []).filter(applies);
    if (workload.ref.namespace === this.rootNamespace) return own;
    return [...own, ...(this.authorizationPoliciesByNamespace.get(this.rootNamespace) ?? []).filter(applies)];
  }

  /** Plaintext defeats the policy: DISABLE refuses every ALLOW-by-identity caller and skips every
   * DENY-by-identity rule; PERMISSIVE lets plaintext callers past DENY-by-identity rules. */
  private static defeats(server: ServerPort, action: AuthorizationPolicyInfo['action']): boolean {
    if (!server.sidecar || server.ambient) return false;
    if (server.mode === 'DISABLE') return action === 'ALLOW' || action === 'DENY';
    return server.mode === 'PERMISSIVE' && action === 'DENY';
  }

  private conflictsOn(workload: WorkloadInfo, port: number, server: ServerPort): AuthorizationConflict[] {
    const out: AuthorizationConflict[] = [];
    for (const p of this.authorizationPoliciesOn(workload)) {
      if (p.action === 'OTHER' || (p.ports && !p.ports.includes(port)) || !MeshModel.defeats(server, p.action)) continue;
      out.push({ server, authorizationPolicy: p.ref, action: p.action, paths: p.identityPaths });
    }
    return out;
  }

  /** Every plaintext-accepting server port under an AuthorizationPolicy that matches identity. */
  authorizationConflicts(): AuthorizationConflict[] {
    const out: AuthorizationConflict[] = [];
    for (const ns of [...this.workloadsByNamespace.keys()].sort()) {
      for (const w of this.workloadsByNamespace.get(ns) ?? []) for (const port of this.portsOf(w)) out.push(...this.conflictsOn(w, port, this.serverPortOf(w, port)));
    }
    return out;
  }

  peerAuthenticationEffect(object: unknown, namespace: string, name: string, previous?: unknown): PeerAuthenticationEffect {
    return this.remember(`PeerAuthentication ${namespace}/${name}`, [object, previous], () => this.peerAuthenticationEffectNow(object, namespace, name, previous));
  }

  private peerAuthenticationEffectNow(object: unknown, namespace: string, name: string, previous: unknown): PeerAuthenticationEffect {
    const workloads = this.workloadsUnder(namespace, [object, previous, object === undefined && previous === undefined ? this.storedObject('security.istio.io', 'PeerAuthentication', namespace, name) : undefined]);
    const ports = workloads.map((w) => ({ w, ports: this.portsOf(w) }));
    const serverPorts = () => ports.flatMap(({ w, ports: list }) => list.map((port) => ({ w, port, server: this.serverPortOf(w, port) })));
    const inPlace = <T>(o: unknown, fn: () => T): T => this.withReplaced('security.istio.io', 'PeerAuthentication', namespace, name, o, fn);
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
      for (const svc of this.servicesByNamespace.get(w.ref.namespace) ?? []) if (svc.selector && !svc.external && selects(svc.selector, w.labels)) services.add(svc);
    }
    // Client groups are the same objects before and after (a PeerAuthentication does not change
    // what clients pick), so they key by identity.
    const groupIds = new Map<ClientGroup, number>();
    const groupId = (g: ClientGroup) => groupIds.get(g) ?? (groupIds.set(g, groupIds.size), groupIds.size - 1);
    const flowKey = (f: Flow) => `${groupId(f.clients)}|${f.service.namespace}/${f.service.name}|${f.servicePort}|${f.subset ?? ''}|${f.server ? `${workloadKey(f.server.workload)}:${f.server.port}` : ''}`;
    const changedFlows = () => [...services].flatMap((svc) => this.flowsOf(svc)).filter((f) => f.server && changed.has(`${workloadKey(f.server.workload)}:${f.server.port}`));
    const flowsBefore = before(changedFlows);
    const flowsAfter = after(changedFlows);
    const brokenBefore = new Set(flowsBefore.filter((f) => f.outcome === 'broken').map(flowKey));
    const newlyBroken = flowsAfter.filter((f) => f.outcome === 'broken' && !brokenBefore.has(flowKey(f)));
    if (object === undefined) return { newlyBroken, authorizationConflicts: [] };
    const conflictKey = (c: AuthorizationConflict) => JSON.stringify([c.server.workload, c.server.port, c.authorizationPolicy]);
    const conflictsBefore = new Set(portsBefore.flatMap(({ w, port, server }) => this.conflictsOn(w, port, server)).map(conflictKey));
    const isThis = (sp: ServerPort) => sp.setBy?.ref.kind === 'PeerAuthentication' && sp.setBy.ref.namespace === namespace && sp.setBy.ref.name === name;
    const authorizationConflicts = portsAfter
      .filter(({ server }) => isThis(server))
      .flatMap(({ w, port, server }) => this.conflictsOn(w, port, server))
      .filter((c) => !conflictsBefore.has(conflictKey(c)));
    return { newlyBroken, authorizationConflicts };
  }
}
