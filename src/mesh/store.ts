// The objects of one mesh as the model keeps them: read once (objects.ts), indexed by namespace,
// host and kind, with use counts for the namespaces and two generation counters that tell caches
// when an answer may have changed. Questions put a changed object in place and back
// (`withReplaced`); nothing here computes flows.
import { DestinationRuleIndex } from './client-side.js';
import {
  objectKey,
  readMeshObject,
  type AuthorizationPolicyInfo,
  type MeshObject,
  type ModelInputs,
  type NamespaceInfo,
  type PeerAuthenticationInfo,
  type ServiceInfo,
  type WorkloadInfo,
} from './objects.js';

/** How the model keys an object: API group, kind, namespace ('' when cluster-scoped), name. */
export interface MeshObjectKey {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

/** A namespace name no Kubernetes namespace can have: stands for "every namespace not in the snapshot". */
export const OTHER_NAMESPACE = '<other>';

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

/** The indexed objects of one mesh. Internal to src/mesh/: the model is its only user. */
export class MeshStore {
  readonly rootNamespace: string;
  readonly objects = new Map<string, MeshObject>();
  readonly namespaces = new Map<string, NamespaceInfo>();
  /** Every namespace any object lives in or exports to, with a use count. */
  private readonly knownNamespaces = new Map<string, number>();
  readonly workloadsByNamespace = new Map<string, WorkloadInfo[]>();
  readonly servicesByNamespace = new Map<string, ServiceInfo[]>();
  readonly servicesByHost = new Map<string, ServiceInfo[]>();
  readonly peerAuthenticationsByNamespace = new Map<string, PeerAuthenticationInfo[]>();
  readonly authorizationPoliciesByNamespace = new Map<string, AuthorizationPolicyInfo[]>();
  readonly destinationRules: DestinationRuleIndex;
  /** Bumped by every apply/delete: answers kept for an older mesh are not reused. */
  generation = 0;
  /** Bumped whenever what clients pick can change: a DestinationRule or the set of namespaces
   * (also inside a question that puts a DestinationRule in place). */
  clientGeneration = 0;

  constructor(readonly policy: ModelInputs) {
    this.rootNamespace = policy.meshRootNamespace;
    this.destinationRules = new DestinationRuleIndex(this.rootNamespace);
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
  /** Every known namespace (objects' namespaces and exportTo targets), sorted. */
  namespaceList(): string[] {
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
  withReplaced<T>(group: string, kind: string, namespace: string, name: string, object: unknown, fn: () => T): T {
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
  withIdentity(object: unknown, namespace: string, name: string): unknown {
    const o = object as { metadata?: Record<string, unknown> };
    return { ...o, metadata: { ...(o.metadata ?? {}), namespace, name } };
  }

  /** The stored object, as read. */
  storedObject(group: string, kind: string, namespace: string, name: string): unknown {
    const stored = this.objects.get(objectKey(group, kind, namespace, name));
    return stored?.type === 'peerAuthentication' ? stored.info.object : undefined;
  }
}
