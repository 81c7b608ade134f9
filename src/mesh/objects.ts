// Reading the objects of a snapshot into the few fields the model needs. Everything else of an
// object is dropped here, so a cluster-sized snapshot stays small. Untrusted JSON: a field of a
// surprising shape reads as absent, never as an error.
import {
  asArray,
  asRecord,
  asString,
  asStringMap,
  dig,
  injectionChoice,
  isWildcardHost,
  podTemplatePath,
  resolveHost,
  splitApiVersion,
  type InjectionChoice,
  type MeshObjectRef,
  type Policy,
} from '../engine/index.js';

/** The identity every object is indexed by. */
export interface Meta {
  ref: MeshObjectRef;
  /** `metadata.creationTimestamp` ('' when absent, as in manifests: sorts first, then by name). */
  created: string;
}

export interface NamespaceInfo extends Meta {
  labels: Record<string, string>;
}

export interface ContainerPort {
  port: number;
  name?: string;
}

export interface WorkloadInfo extends Meta {
  /** Pod template labels. */
  labels: Record<string, string>;
  ports: ContainerPort[];
  injection: InjectionChoice;
}

export interface ServicePort {
  port: number;
  name?: string;
  /** Container port number or name; the Service port when absent (Kubernetes' default). */
  targetPort: number | string;
}

/** A Service, or a ServiceEntry host (one per host). */
export interface ServiceInfo extends Meta {
  host: string;
  /** Pods behind it: a Service's `selector`, a MESH_INTERNAL ServiceEntry's `workloadSelector.labels`;
   * undefined when there is none (the endpoints are not workloads of the snapshot). */
  selector?: Record<string, string>;
  ports: ServicePort[];
  /** A ServiceEntry with `location: MESH_EXTERNAL` (the default): outside the mesh. */
  external: boolean;
}

export interface PeerAuthenticationInfo extends Meta {
  /** Non-empty matchLabels, else undefined (namespace- or mesh-wide). */
  selector?: Record<string, string>;
  object: unknown;
}

export interface DestinationRuleInfo extends Meta {
  /** `spec.host` resolved as Istio does (ResolveShortnameToFQDN). */
  host: string;
  wildcard: boolean;
  exportTo: string[];
  workloadSelector?: Record<string, string>;
  object: unknown;
}

export interface AuthorizationPolicyInfo extends Meta {
  selector?: Record<string, string>;
  action: 'ALLOW' | 'DENY' | 'OTHER';
  /** Fields matching peer identity, e.g. spec.rules[0].from[0].source.principals. */
  identityPaths: string[];
  /** Ports the identity-matching rules are limited to (`to[].operation.ports`); undefined = all. */
  ports?: number[];
}

export type MeshObject =
  | { type: 'namespace'; info: NamespaceInfo }
  | { type: 'workload'; info: WorkloadInfo }
  | { type: 'service'; info: ServiceInfo[] }
  | { type: 'peerAuthentication'; info: PeerAuthenticationInfo }
  | { type: 'destinationRule'; info: DestinationRuleInfo }
  | { type: 'authorizationPolicy'; info: AuthorizationPolicyInfo };

/** The key of an object: group/kind/namespace/name. */
export function objectKey(group: string, kind: string, namespace: string, name: string): string {
  return `${group}/${kind}/${namespace}/${name}`;
}

function nonEmpty(labels: Record<string, string> | undefined): Record<string, string> | undefined {
  return labels && Object.keys(labels).length > 0 ? labels : undefined;
}

function meta(object: unknown, kind: string, defaultNamespace: string): Meta | undefined {
  const name = asString(dig(object, 'metadata', 'name'));
  if (!name) return undefined;
  const namespace = kind === 'Namespace' ? '' : (asString(dig(object, 'metadata', 'namespace')) ?? defaultNamespace);
  return { ref: { kind, namespace, name }, created: asString(dig(object, 'metadata', 'creationTimestamp')) ?? '' };
}

function containerPorts(template: unknown): ContainerPort[] {
  const out: ContainerPort[] = [];
  const spec = dig(template, 'spec');
  for (const c of [...asArray(dig(spec, 'containers')), ...asArray(dig(spec, 'initContainers'))]) {
    for (const p of asArray(dig(c, 'ports'))) {
      const port = dig(p, 'containerPort');
      if (typeof port !== 'number' || !Number.isInteger(port)) continue;
      const name = asString(dig(p, 'name'));
      out.push(name ? { port, name } : { port });
    }
  }
  return out;
}

function servicePorts(object: unknown): ServicePort[] {
  const out: ServicePort[] = [];
  for (const p of asArray(dig(object, 'spec', 'ports'))) {
    const port = dig(p, 'port');
    if (typeof port !== 'number' || !Number.isInteger(port)) continue;
    const target = dig(p, 'targetPort');
    const name = asString(dig(p, 'name'));
    const targetPort = typeof target === 'number' || (typeof target === 'string' && target !== '') ? target : port;
    out.push(name ? { port, name, targetPort } : { port, targetPort });
  }
  return out;
}

function serviceEntryPorts(object: unknown): ServicePort[] {
  const out: ServicePort[] = [];
  for (const p of asArray(dig(object, 'spec', 'ports'))) {
    const port = dig(p, 'number');
    if (typeof port !== 'number' || !Number.isInteger(port)) continue;
    const target = dig(p, 'targetPort');
    const name = asString(dig(p, 'name'));
    const targetPort = typeof target === 'number' && target > 0 ? target : port;
    out.push(name ? { port, name, targetPort } : { port, targetPort });
  }
  return out;
}

/** `exportTo` as written; an empty list means Istio's default (`*` unless the mesh says otherwise). */
function exportTo(object: unknown): string[] {
  return asArray(dig(object, 'spec', 'exportTo')).filter((e): e is string => typeof e === 'string');
}

const IDENTITY_FIELDS = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'] as const;

function authorizationPolicy(object: unknown, m: Meta): AuthorizationPolicyInfo {
  const raw = asString(dig(object, 'spec', 'action'))?.toUpperCase() ?? 'ALLOW';
  const action = raw === 'ALLOW' || raw === 'DENY' ? raw : 'OTHER';
  const identityPaths: string[] = [];
  let ports: number[] | undefined = [];
  asArray(dig(object, 'spec', 'rules')).forEach((rule, r) => {
    const before = identityPaths.length;
    asArray(dig(rule, 'from')).forEach((from, f) => {
      for (const field of IDENTITY_FIELDS) {
        if (asArray(dig(from, 'source', field)).length > 0) identityPaths.push(`spec.rules[${r}].from[${f}].source.${field}`);
      }
    });
    if (identityPaths.length === before || ports === undefined) return;
    // A rule limited to some ports matches identity only there; any rule without `to` reaches every port.
    const to = asArray(dig(rule, 'to'));
    const rulePorts = to.flatMap((t) => asArray(dig(t, 'operation', 'ports')).map(Number).filter((n) => Number.isInteger(n) && n > 0));
    if (to.length === 0 || rulePorts.length === 0) ports = undefined;
    else ports.push(...rulePorts);
  });
  const selector = nonEmpty(asStringMap(dig(object, 'spec', 'selector', 'matchLabels')));
  const info: AuthorizationPolicyInfo = { ...m, action, identityPaths };
  if (selector) info.selector = selector;
  if (ports !== undefined) info.ports = ports;
  return info;
}

/**
 * What the mesh model reads from the policy, and all it reads: the mesh root namespace (Istio's
 * meshConfig.rootNamespace), the cluster domain (to resolve short host names) and the workload
 * kinds (where a kind's pod template is). Two policies that agree on these build the same model,
 * so a reload that changes only rules (actions, allowlist entries) keeps it (cluster mode).
 */
export type ModelInputs = Pick<Policy, 'meshRootNamespace' | 'clusterDomain' | 'workloadKinds'>;

/** True when `a` and `b` build the same model: equal ModelInputs (workload kinds compared by value). */
export function sameModelInputs(a: ModelInputs, b: ModelInputs): boolean {
  if (a === b) return true;
  return a.meshRootNamespace === b.meshRootNamespace && a.clusterDomain === b.clusterDomain && JSON.stringify(a.workloadKinds) === JSON.stringify(b.workloadKinds);
}

/**
 * Reads one manifest into what the model keeps, or undefined for a kind it does not use or an
 * object without a name.
 * @param defaultNamespace the namespace of an object that names none (`check`'s `default`).
 */
export function readMeshObject(object: unknown, policy: ModelInputs, defaultNamespace = 'default'): MeshObject | undefined {
  const kind = asString(dig(object, 'kind'));
  const apiVersion = asString(dig(object, 'apiVersion'));
  if (!kind || apiVersion === undefined) return undefined;
  const { group } = splitApiVersion(apiVersion);
  const m = meta(object, kind, defaultNamespace);
  if (!m) return undefined;
  const ns = m.ref.namespace;
  if (group === '' && kind === 'Namespace') return { type: 'namespace', info: { ...m, labels: asStringMap(dig(object, 'metadata', 'labels')) ?? {} } };
  if (group === '' && kind === 'Service') {
    const info: ServiceInfo = { ...m, host: `${m.ref.name}.${ns}.svc.${policy.clusterDomain}`, ports: servicePorts(object), external: false };
    const selector = nonEmpty(asStringMap(dig(object, 'spec', 'selector')));
    if (selector) info.selector = selector;
    return { type: 'service', info: [info] };
  }
  if (group === 'networking.istio.io' && kind === 'ServiceEntry') {
    const external = (asString(dig(object, 'spec', 'location')) ?? 'MESH_EXTERNAL').toUpperCase() !== 'MESH_INTERNAL';
    const selector = nonEmpty(asStringMap(dig(object, 'spec', 'workloadSelector', 'labels')));
    const ports = serviceEntryPorts(object);
    const hosts = asArray(dig(object, 'spec', 'hosts')).filter((h): h is string => typeof h === 'string' && h !== '');
    return {
      type: 'service',
      info: hosts.map((host) => ({ ...m, host: resolveHost(host, ns, policy.clusterDomain), ports, external, ...(selector && !external ? { selector } : {}) })),
    };
  }
  if (group === 'security.istio.io' && kind === 'PeerAuthentication') {
    const selector = nonEmpty(asStringMap(dig(object, 'spec', 'selector', 'matchLabels')));
    return { type: 'peerAuthentication', info: { ...m, object, ...(selector ? { selector } : {}) } };
  }
  if (group === 'networking.istio.io' && kind === 'DestinationRule') {
    const host = resolveHost(asString(dig(object, 'spec', 'host')) ?? '', ns, policy.clusterDomain);
    // Any workloadSelector makes a selector rule (Istio: GetWorkloadSelector() != nil), even an
    // empty one: private to its namespace, matching every pod there, never the catch-all.
    const workloadSelector = asRecord(dig(object, 'spec', 'workloadSelector')) ? (asStringMap(dig(object, 'spec', 'workloadSelector', 'matchLabels')) ?? {}) : undefined;
    const info: DestinationRuleInfo = { ...m, host, wildcard: isWildcardHost(host), exportTo: exportTo(object), object };
    if (workloadSelector) info.workloadSelector = workloadSelector;
    return { type: 'destinationRule', info };
  }
  if (group === 'security.istio.io' && kind === 'AuthorizationPolicy') return { type: 'authorizationPolicy', info: authorizationPolicy(object, m) };
  const path = podTemplatePath({ group, version: '', kind }, policy);
  if (path) {
    const template = dig(object, ...path);
    if (!asRecord(template)) return undefined;
    const labels = asStringMap(dig(template, 'metadata', 'labels')) ?? {};
    return { type: 'workload', info: { ...m, labels, ports: containerPorts(template), injection: injectionChoice(template) } };
  }
  return undefined;
}

/** True when every label of `selector` is on `labels` (Kubernetes matchLabels). */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** Istio's config order: creationTimestamp, then name, then namespace (sortConfigByCreationTime). */
export function byAge(a: Meta, b: Meta): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  if (a.ref.name !== b.ref.name) return a.ref.name < b.ref.name ? -1 : 1;
  return a.ref.namespace < b.ref.namespace ? -1 : a.ref.namespace > b.ref.namespace ? 1 : 0;
}
