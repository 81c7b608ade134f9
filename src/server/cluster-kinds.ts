// The kinds cluster mode watches, and what of each object is kept: exactly what the mesh model
// reads (src/mesh/objects.ts), nothing else. The informer caches hold these slim copies, so a
// cluster-sized mesh costs the model's fields, not whole objects with managedFields and status.

/** One kind the mesh model uses, as the API server serves it. */
export interface WatchedKind {
  group: string;
  version: string;
  kind: string;
  /** The resource name in URLs (`destinationrules`). */
  plural: string;
  /** False for Istio's kinds: watched only when their CRD is served (discovered at start). */
  builtIn: boolean;
}

/**
 * Built-in kinds. Workloads: the apps/v1 kinds that own long-running pods. Not ReplicaSets (those
 * a Deployment owns repeat its template, so each workload would count once per revision), nor
 * Jobs, CronJobs, DeploymentConfigs, Rollouts or policy `workloadKinds` (not watched yet: their
 * pods are judged as servers only through `check`/`scan`).
 */
export const BUILT_IN_KINDS: readonly WatchedKind[] = [
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', builtIn: true },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', builtIn: true },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', builtIn: true },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', builtIn: true },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', builtIn: true },
];

/** Istio's kinds: the version is the one discovery finds (v1 since Istio 1.22, v1beta1 before). */
export const ISTIO_KINDS: readonly Omit<WatchedKind, 'version'>[] = [
  { group: 'security.istio.io', kind: 'PeerAuthentication', plural: 'peerauthentications', builtIn: false },
  { group: 'security.istio.io', kind: 'AuthorizationPolicy', plural: 'authorizationpolicies', builtIn: false },
  { group: 'networking.istio.io', kind: 'DestinationRule', plural: 'destinationrules', builtIn: false },
  { group: 'networking.istio.io', kind: 'ServiceEntry', plural: 'serviceentries', builtIn: false },
];

export function apiVersionOf(kind: WatchedKind): string {
  return kind.group ? `${kind.group}/${kind.version}` : kind.version;
}

/** The cluster-wide collection URL path: `/api/v1/services`, `/apis/apps/v1/deployments`. */
export function collectionPath(kind: WatchedKind): string {
  return kind.group ? `/apis/${kind.group}/${kind.version}/${kind.plural}` : `/api/${kind.version}/${kind.plural}`;
}

type Json = Record<string, unknown>;

function record(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The object's metadata as the model and the informer need it. */
export interface SlimMetadata {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
}

/** A slim copy: what the mesh model reads and the informer's bookkeeping (name, resourceVersion). */
export interface SlimObject {
  apiVersion: string;
  kind: string;
  metadata: SlimMetadata;
  spec?: Json;
}

/** RFC 3339 as the API server writes it; the model orders objects by this string (Istio's age order). */
function timestamp(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return undefined;
}

function slimMetadata(raw: unknown, withLabels: boolean): SlimMetadata | undefined {
  const m = record(raw);
  const name = m?.['name'];
  if (!m || typeof name !== 'string') return undefined;
  const out: SlimMetadata = { name };
  if (typeof m['namespace'] === 'string') out.namespace = m['namespace'];
  if (typeof m['resourceVersion'] === 'string') out.resourceVersion = m['resourceVersion'];
  const created = timestamp(m['creationTimestamp']);
  if (created) out.creationTimestamp = created;
  const labels = record(m['labels']);
  if (withLabels && labels) out.labels = labels as Record<string, string>;
  return out;
}

function slimPorts(ports: unknown, keys: readonly string[]): Json[] {
  return list(ports).map((p) => {
    const out: Json = {};
    const r = record(p) ?? {};
    for (const k of keys) if (r[k] !== undefined) out[k] = r[k];
    return out;
  });
}

const INJECT = 'sidecar.istio.io/inject';

/** A pod template: labels, the injection annotation, container and init container ports. */
function slimTemplate(raw: unknown): Json | undefined {
  const t = record(raw);
  if (!t) return undefined;
  const meta = record(t['metadata']) ?? {};
  const annotations = record(meta['annotations']);
  const metadata: Json = {};
  if (record(meta['labels'])) metadata['labels'] = meta['labels'];
  if (annotations && typeof annotations[INJECT] === 'string') metadata['annotations'] = { [INJECT]: annotations[INJECT] };
  const spec = record(t['spec']) ?? {};
  const containers = (key: string): Json[] => list(spec[key]).map((c) => ({ name: record(c)?.['name'], ports: slimPorts(record(c)?.['ports'], ['containerPort', 'name']) }));
  return { metadata, spec: { containers: containers('containers'), initContainers: containers('initContainers') } };
}

function slimSpec(kind: WatchedKind, raw: unknown): Json | undefined {
  const spec = record(raw);
  if (!spec) return undefined;
  switch (kind.kind) {
    case 'Namespace':
      return undefined;
    case 'Service': {
      const out: Json = { ports: slimPorts(spec['ports'], ['port', 'name', 'targetPort']) };
      if (record(spec['selector'])) out['selector'] = spec['selector'];
      return out;
    }
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet': {
      const template = slimTemplate(spec['template']);
      return template ? { template } : {};
    }
    default:
      // Istio's objects: the spec is what the rules read, and it is small.
      return spec;
  }
}

/**
 * The slim copy of an object of `kind` (from a list, where items carry no apiVersion/kind, or a
 * watch event), or undefined when it has no name. Dates (typed clients) become RFC 3339 strings.
 */
export function slimObject(kind: WatchedKind, raw: unknown): SlimObject | undefined {
  const o = record(raw);
  const metadata = slimMetadata(o?.['metadata'], kind.kind === 'Namespace');
  if (!o || !metadata) return undefined;
  const out: SlimObject = { apiVersion: apiVersionOf(kind), kind: kind.kind, metadata };
  const spec = slimSpec(kind, o['spec']);
  if (spec) out.spec = spec;
  return out;
}
