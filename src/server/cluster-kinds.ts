// The kinds cluster mode watches (and `scan --kubeconfig` lists), and what of each object is kept:
// exactly what the mesh model reads (src/mesh/objects.ts), nothing else. The informer caches hold these slim copies, so a
// cluster-sized mesh costs the model's fields, not whole objects with managedFields and status.

/** One kind the mesh model uses, as the API server serves it. */
export interface WatchedKind {
  group: string;
  version: string;
  kind: string;
  /** The resource name in URLs (`destinationrules`). */
  plural: string;
  /** False for the kinds watched only when served (Istio's, DeploymentConfig, Rollout, the policy's
   * `workloadKinds`): found by API discovery, looked for again periodically. */
  builtIn: boolean;
  /** Workload kinds: the key path of the pod template (engine/kinds.ts podTemplatePath, or the
   * policy's `templatePath`); the slim copy keeps the template at this path. */
  templatePath?: readonly string[];
}

/** A kind before discovery has found the version its group serves. */
export type KindToDiscover = Omit<WatchedKind, 'version'>;

const TEMPLATE = ['spec', 'template'] as const;

/**
 * Built-in kinds. Workloads: the apps/v1 and batch/v1 kinds, whose pod templates the model reads
 * as `check` and `scan` do (a Job's or CronJob's pods are servers to the model when their
 * template declares ports: docs/cluster-mode.md). Not ReplicaSets: those a Deployment owns repeat
 * its template, so each workload would count once per revision.
 */
export const BUILT_IN_KINDS: readonly WatchedKind[] = [
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', builtIn: true },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', builtIn: true },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', builtIn: true, templatePath: TEMPLATE },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', builtIn: true, templatePath: TEMPLATE },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', builtIn: true, templatePath: TEMPLATE },
  { group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', builtIn: true, templatePath: TEMPLATE },
  { group: 'batch', version: 'v1', kind: 'CronJob', plural: 'cronjobs', builtIn: true, templatePath: ['spec', 'jobTemplate', 'spec', 'template'] },
];

/** Istio's kinds: the version is the one discovery finds (v1 since Istio 1.22, v1beta1 before). */
export const ISTIO_KINDS: readonly KindToDiscover[] = [
  { group: 'security.istio.io', kind: 'PeerAuthentication', plural: 'peerauthentications', builtIn: false },
  { group: 'security.istio.io', kind: 'AuthorizationPolicy', plural: 'authorizationpolicies', builtIn: false },
  { group: 'networking.istio.io', kind: 'DestinationRule', plural: 'destinationrules', builtIn: false },
  { group: 'networking.istio.io', kind: 'ServiceEntry', plural: 'serviceentries', builtIn: false },
];

/** Workload kinds of add-ons, watched when served: OpenShift's DeploymentConfig, Argo Rollouts. */
export const ADDON_WORKLOAD_KINDS: readonly KindToDiscover[] = [
  { group: 'apps.openshift.io', kind: 'DeploymentConfig', plural: 'deploymentconfigs', builtIn: false, templatePath: TEMPLATE },
  // A Rollout with `workloadRef` has no template of its own: the model finds no workload there.
  { group: 'argoproj.io', kind: 'Rollout', plural: 'rollouts', builtIn: false, templatePath: TEMPLATE },
];

/** What the policy's `workloadKinds` entries say (engine policy schema). */
export interface PolicyWorkloadKind {
  group: string;
  kind: string;
  resource: string;
  templatePath: string;
}

/** Top-level keys a template path may not start with: the slim copy's own fields. */
const RESERVED_ROOTS = new Set(['apiVersion', 'kind', 'metadata']);

/**
 * The policy's `workloadKinds` as kinds to discover, leaving out those the engine already knows
 * (podTemplatePath prefers its own path for them, and they are watched anyway) and those whose
 * template path starts at apiVersion, kind or metadata (no pod template can be there).
 */
export function policyWorkloadKinds(workloadKinds: readonly PolicyWorkloadKind[]): KindToDiscover[] {
  const known = new Set([...BUILT_IN_KINDS, ...ISTIO_KINDS, ...ADDON_WORKLOAD_KINDS].map((k) => `${k.group}/${k.kind}`));
  const out: KindToDiscover[] = [];
  for (const w of workloadKinds) {
    const path = w.templatePath.split('.');
    const id = `${w.group}/${w.kind}`;
    if (known.has(id) || RESERVED_ROOTS.has(path[0] ?? '')) continue;
    known.add(id);
    out.push({ group: w.group, kind: w.kind, plural: w.resource, builtIn: false, templatePath: path });
  }
  return out;
}

/** Every kind watched only when served, for a policy: Istio's, the add-ons', the policy's. */
export function optionalKinds(workloadKinds: readonly PolicyWorkloadKind[]): KindToDiscover[] {
  return [...ISTIO_KINDS, ...ADDON_WORKLOAD_KINDS, ...policyWorkloadKinds(workloadKinds)];
}

/**
 * The served optional kinds to watch: those whose kind name no built-in kind and no earlier kind
 * already has (the informers, their metrics and /readyz are keyed by kind name, so a policy
 * `WebApp` in two groups is watched once, in the first), and the ones left out with the kind
 * they clash with.
 */
export function withoutNameClashes(served: readonly WatchedKind[]): { kept: WatchedKind[]; dropped: { kind: WatchedKind; clashesWith: WatchedKind }[] } {
  const kept: WatchedKind[] = [];
  const dropped: { kind: WatchedKind; clashesWith: WatchedKind }[] = [];
  for (const k of served) {
    const clash = BUILT_IN_KINDS.find((b) => b.kind === k.kind) ?? kept.find((b) => b.kind === k.kind);
    if (clash) dropped.push({ kind: k, clashesWith: clash });
    else kept.push(k);
  }
  return { kept, dropped };
}

export function apiVersionOf(kind: WatchedKind): string {
  return kind.group ? `${kind.group}/${kind.version}` : kind.version;
}

/** The group-version URL path: `/api/v1`, `/apis/apps/v1`. */
export function groupVersionPath(group: string, version: string): string {
  return group ? `/apis/${group}/${version}` : `/api/${version}`;
}

/** The cluster-wide collection URL path: `/api/v1/services`, `/apis/apps/v1/deployments`. */
export function collectionPath(kind: WatchedKind): string {
  return `${groupVersionPath(kind.group, kind.version)}/${kind.plural}`;
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
  /** A policy workload kind whose template path starts elsewhere than `spec` keeps that key. */
  [root: string]: unknown;
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

/** `value` under the key path `path` (an empty path is the value itself). */
function nest(path: readonly string[], value: Json): Json {
  return path.reduceRight<Json>((inner, key) => ({ [key]: inner }), value);
}

function dig(value: unknown, path: readonly string[]): unknown {
  let at = value;
  for (const key of path) at = record(at)?.[key];
  return at;
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
    default:
      // Istio's objects: the spec is what the rules read, and it is small.
      return spec;
  }
}

/** A workload's slim fields: its pod template, slimmed, at the kind's template path. */
function slimWorkload(path: readonly string[], object: Json): Json {
  const [root, ...rest] = path;
  if (root === undefined) return {};
  const template = slimTemplate(dig(object, path));
  return { [root]: template ? nest(rest, template) : {} };
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
  if (kind.templatePath) return Object.assign(out, slimWorkload(kind.templatePath, o));
  const spec = slimSpec(kind, o['spec']);
  if (spec) out.spec = spec;
  return out;
}
