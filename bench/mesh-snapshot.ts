// A deterministic, realistic mesh for the mesh-model benchmark (bench/mesh.ts) and its tests:
// Namespaces (sidecar-injected, ambient, revision-labelled, outside the mesh), Deployments with
// pod-template labels and named container ports, Services selecting them (named and numeric
// targetPorts), DestinationRules (short, FQDN, cross-namespace and wildcard hosts, subsets,
// portLevelSettings, mostly ISTIO_MUTUAL with some DISABLE, exportTo ['.'], a few
// workloadSelectors), PeerAuthentications at mesh (one STRICT in the root namespace), namespace
// and workload level with portLevelMtls, AuthorizationPolicies matching principals and
// namespaces, and a few external ServiceEntries. Seeded PRNG (mulberry32), never Math.random:
// the same size and seed give the same objects, byte for byte.
//
// Two steps so that a benchmark can measure what a model retains without the raw manifests:
// `planMesh(size)` draws the compact shape (a few MiB at full size), `meshObjects(plan)` yields
// the manifests one at a time from it (again deterministic: its own PRNG stream per object kind).

export interface MeshSize {
  /** Application namespaces; the root namespace (istio-system) comes on top. */
  namespaces: number;
  services: number;
  destinationRules: number;
  /** Including the one mesh-wide STRICT PeerAuthentication in the root namespace. */
  peerAuthentications: number;
  /** Deployments. */
  workloads: number;
  authorizationPolicies: number;
  /** External hosts (MESH_EXTERNAL, SIMPLE TLS from a DestinationRule); part of the mesh's clients' targets. */
  serviceEntries: number;
  seed: number;
}

/** The issue's mesh: 10,000 Services, 5,000 DestinationRules, 2,000 PeerAuthentications, 10,000 workloads. */
export const FULL_MESH: MeshSize = {
  namespaces: 200,
  services: 10_000,
  destinationRules: 5_000,
  peerAuthentications: 2_000,
  workloads: 10_000,
  authorizationPolicies: 500,
  serviceEntries: 50,
  seed: 12,
};

/** For tests: every shape present, small enough to build in milliseconds. */
export const SMALL_MESH: MeshSize = {
  namespaces: 6,
  services: 60,
  destinationRules: 30,
  peerAuthentications: 14,
  workloads: 60,
  authorizationPolicies: 8,
  serviceEntries: 2,
  seed: 12,
};

/** Every count of `size` times `factor` (at least one namespace, workload, Service, PeerAuthentication). */
export function scaleMesh(size: MeshSize, factor: number): MeshSize {
  const n = (v: number, min: number): number => Math.max(min, Math.round(v * factor));
  return {
    namespaces: n(size.namespaces, 1),
    services: n(size.services, 1),
    destinationRules: n(size.destinationRules, 0),
    peerAuthentications: n(size.peerAuthentications, 1),
    workloads: n(size.workloads, 1),
    authorizationPolicies: n(size.authorizationPolicies, 0),
    serviceEntries: n(size.serviceEntries, 0),
    seed: size.seed,
  };
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A manifest as read from YAML: what MeshModel.build and `mtls-guard scan` take. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
}

export const ROOT_NAMESPACE = 'istio-system';
export const CLUSTER_DOMAIN = 'cluster.local';

export type DataPlane = 'sidecar' | 'ambient' | 'none';

export interface NamespacePlan {
  name: string;
  labels: Record<string, string>;
  dataPlane: DataPlane;
}

export interface PortPlan {
  name: string;
  containerPort: number;
}

export interface WorkloadPlan {
  namespace: string;
  name: string;
  app: string;
  version: string;
  serviceAccount: string;
  ports: PortPlan[];
  /** Pod-template injection override: `sidecar.istio.io/inject` "false" (annotation) or "true" (label). */
  inject?: 'true' | 'false';
}

export interface ServicePortPlan {
  name: string;
  port: number;
  /** Omitted: targetPort defaults to port. */
  targetPort?: number | string;
}

export interface ServicePlan {
  namespace: string;
  name: string;
  selector: Record<string, string>;
  ports: ServicePortPlan[];
  /** Index of the workload it was made for (it selects at least that one). */
  workload: number;
}

export type DrHostForm = 'short' | 'fqdn' | 'cross-namespace' | 'wildcard' | 'external' | 'mesh-wide';

export interface DestinationRulePlan {
  namespace: string;
  name: string;
  host: string;
  hostForm: DrHostForm;
  /** Service index (-1 for wildcard, external and mesh-wide hosts). */
  service: number;
  /** `none`: no tls block; `no-mode`: a tls block without mode (DISABLE for Istio). */
  tls: 'ISTIO_MUTUAL' | 'DISABLE' | 'SIMPLE' | 'none' | 'no-mode';
  subsets: { name: string; labels: Record<string, string>; tls?: 'ISTIO_MUTUAL' | 'DISABLE' }[];
  portLevel: { port: number; tls: 'ISTIO_MUTUAL' | 'DISABLE' }[];
  exportTo?: string[];
  workloadSelector?: Record<string, string>;
}

export type PaMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'UNSET';

export interface PeerAuthenticationPlan {
  namespace: string;
  name: string;
  level: 'mesh' | 'namespace' | 'workload';
  mode: PaMode;
  selector?: Record<string, string>;
  portLevel: { port: number; mode: PaMode }[];
  /** Workload index for workload-level ones. */
  workload: number;
}

export interface AuthorizationPolicyPlan {
  namespace: string;
  name: string;
  action: 'ALLOW' | 'DENY';
  selector?: Record<string, string>;
  /** `principals`, `namespaces`, or neither (matches on request principals / IP blocks only). */
  identity: 'principals' | 'namespaces' | 'none';
  peers: string[];
  ports: string[];
}

export interface ServiceEntryPlan {
  namespace: string;
  name: string;
  host: string;
}

export interface MeshPlan {
  size: MeshSize;
  namespaces: NamespacePlan[];
  workloads: WorkloadPlan[];
  services: ServicePlan[];
  destinationRules: DestinationRulePlan[];
  peerAuthentications: PeerAuthenticationPlan[];
  authorizationPolicies: AuthorizationPolicyPlan[];
  serviceEntries: ServiceEntryPlan[];
}

/** mulberry32: small, fast, good enough to shape test data; `next()` in [0, 1). */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[this.int(xs.length)];
    if (x === undefined) throw new Error('pick from an empty list');
    return x;
  }
  /** A permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i] as number;
      p[i] = p[j] as number;
      p[j] = t;
    }
    return p;
  }
}

const TEAMS = ['payments', 'orders', 'catalog', 'search', 'billing', 'identity', 'shipping', 'reviews', 'inventory', 'pricing', 'ledger', 'notify', 'media', 'profile', 'cart', 'checkout'];
const APPS = ['api', 'web', 'worker', 'gateway', 'db-proxy', 'cache', 'auth', 'events', 'report', 'export', 'sync', 'scheduler', 'pdf', 'images', 'feed', 'rank'];

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const at = <T>(xs: readonly T[], i: number): T => {
  const x = xs[i];
  if (x === undefined) throw new Error(`index ${i} out of ${xs.length}`);
  return x;
};

/** The Istio FQDN of a Service. */
export function serviceHost(s: { name: string; namespace: string }): string {
  return `${s.name}.${s.namespace}.svc.${CLUSTER_DOMAIN}`;
}

function planNamespaces(rng: Prng, count: number): NamespacePlan[] {
  const out: NamespacePlan[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${TEAMS[i % TEAMS.length] as string}-${pad(i, 3)}`;
    const r = rng.next();
    // Most of the mesh is sidecar-injected (by label or by revision), a few namespaces run
    // ambient, some are outside the mesh (no sidecars: they accept only plaintext).
    if (r < 0.7) out.push({ name, labels: { 'istio-injection': 'enabled' }, dataPlane: 'sidecar' });
    else if (r < 0.8) out.push({ name, labels: { 'istio.io/rev': 'canary' }, dataPlane: 'sidecar' });
    else if (r < 0.85) out.push({ name, labels: { 'istio.io/dataplane-mode': 'ambient' }, dataPlane: 'ambient' });
    else if (r < 0.9) out.push({ name, labels: { 'istio-injection': 'disabled' }, dataPlane: 'none' });
    else out.push({ name, labels: {}, dataPlane: 'none' });
  }
  // At least one of each kind when there is room, so small meshes have every shape.
  if (count >= 3) {
    out[0] = { ...at(out, 0), labels: { 'istio-injection': 'enabled' }, dataPlane: 'sidecar' };
    out[1] = { ...at(out, 1), labels: { 'istio.io/dataplane-mode': 'ambient' }, dataPlane: 'ambient' };
    out[2] = { ...at(out, 2), labels: {}, dataPlane: 'none' };
  }
  return out;
}

function planWorkloads(rng: Prng, count: number, namespaces: NamespacePlan[]): WorkloadPlan[] {
  const out: WorkloadPlan[] = [];
  for (let i = 0; i < count; i++) {
    const ns = at(namespaces, i % namespaces.length);
    const prev = out[i - namespaces.length];
    // One workload in six is a second version of the app before it in the same namespace.
    const v2 = prev !== undefined && prev.version === 'v1' && rng.next() < 1 / 6;
    const app = v2 && prev ? prev.app : `${APPS[Math.floor(i / namespaces.length) % APPS.length] as string}-${pad(i, 5)}`;
    const version = v2 ? 'v2' : 'v1';
    // A second version serves the same ports as the first (one Service selects both).
    const ports: PortPlan[] = v2 && prev ? prev.ports.map((p) => ({ ...p })) : [{ name: 'http', containerPort: 8080 }];
    if (!v2 && rng.next() < 0.4) ports.push({ name: 'grpc', containerPort: 9090 });
    if (!v2 && rng.next() < 0.15) ports.push({ name: 'metrics', containerPort: 9102 });
    const w: WorkloadPlan = { namespace: ns.name, name: `${app}-${version}`, app, version, serviceAccount: app, ports };
    const r = rng.next();
    if (ns.dataPlane === 'sidecar' && r < 0.04) w.inject = 'false';
    else if (ns.dataPlane === 'none' && r < 0.15) w.inject = 'true';
    out.push(w);
  }
  return out;
}

function planServices(rng: Prng, count: number, workloads: WorkloadPlan[]): ServicePlan[] {
  const out: ServicePlan[] = [];
  for (let i = 0; i < count; i++) {
    const wi = i % workloads.length;
    const w = at(workloads, wi);
    const round = Math.floor(i / workloads.length);
    const name = `${w.version === 'v1' ? w.app : `${w.app}-${w.version}`}${round ? `-alt${round}` : ''}`;
    // A v1 Service selects by app (so the v2 workload too, as in bookinfo); a v2 one by version.
    const selector: Record<string, string> = w.version === 'v1' && rng.next() < 0.85 ? { app: w.app } : { app: w.app, version: w.version };
    const ports: ServicePortPlan[] = [];
    const r = rng.next();
    if (r < 0.6) ports.push({ name: 'http', port: 80, targetPort: 'http' });
    else if (r < 0.9) ports.push({ name: 'http', port: 80, targetPort: 8080 });
    else ports.push({ name: 'http', port: 8080 });
    if (w.ports.some((p) => p.name === 'grpc')) ports.push(rng.next() < 0.5 ? { name: 'grpc', port: 9090, targetPort: 'grpc' } : { name: 'grpc', port: 9090 });
    out.push({ namespace: w.namespace, name, selector, ports, workload: wi });
  }
  return out;
}

function drTls(rng: Prng): DestinationRulePlan['tls'] {
  const r = rng.next();
  return r < 0.8 ? 'ISTIO_MUTUAL' : r < 0.88 ? 'DISABLE' : r < 0.9 ? 'SIMPLE' : r < 0.99 ? 'none' : 'no-mode';
}

function planDestinationRules(rng: Prng, count: number, namespaces: NamespacePlan[], services: ServicePlan[], workloads: WorkloadPlan[], entries: ServiceEntryPlan[]): DestinationRulePlan[] {
  const out: DestinationRulePlan[] = [];
  if (count === 0) return out;
  // The usual mesh-wide default in the root namespace.
  out.push({ namespace: ROOT_NAMESPACE, name: 'default', host: `*.${CLUSTER_DOMAIN}`, hostForm: 'mesh-wide', service: -1, tls: 'ISTIO_MUTUAL', subsets: [], portLevel: [] });
  for (let e = 0; e < entries.length && out.length < count; e++) {
    const se = at(entries, e);
    out.push({ namespace: se.namespace, name: `${se.name}-tls`, host: se.host, hostForm: 'external', service: -1, tls: 'SIMPLE', subsets: [], portLevel: [] });
  }
  const order = rng.permutation(services.length);
  const wildcardDone = new Set<string>();
  for (let k = 0; out.length < count; k++) {
    const si = at(order, k % order.length);
    const s = at(services, si);
    const r = rng.next();
    let namespace = s.namespace;
    let host: string;
    let hostForm: DrHostForm;
    let exportTo: string[] | undefined;
    if (r < 0.5) {
      host = s.name;
      hostForm = 'short';
    } else if (r < 0.82 || namespaces.length < 2) {
      host = serviceHost(s);
      hostForm = 'fqdn';
    } else if (r < 0.94 || wildcardDone.has(s.namespace)) {
      // A client namespace's own rule for another team's Service, kept to itself.
      let other = at(namespaces, rng.int(namespaces.length)).name;
      if (other === s.namespace) other = at(namespaces, (namespaces.findIndex((n) => n.name === other) + 1) % namespaces.length).name;
      namespace = other;
      host = serviceHost(s);
      hostForm = 'cross-namespace';
      exportTo = ['.'];
    } else {
      wildcardDone.add(s.namespace);
      host = `*.${s.namespace}.svc.${CLUSTER_DOMAIN}`;
      hostForm = 'wildcard';
    }
    const tls = drTls(rng);
    const w = at(workloads, s.workload);
    const subsets: DestinationRulePlan['subsets'] = [];
    if (hostForm !== 'wildcard' && rng.next() < 0.4) {
      subsets.push({ name: 'v1', labels: { version: 'v1' } });
      if (rng.next() < 0.5) subsets.push({ name: 'v2', labels: { version: 'v2' }, tls: rng.next() < 0.2 ? 'DISABLE' : 'ISTIO_MUTUAL' });
    }
    const portLevel: DestinationRulePlan['portLevel'] = [];
    if (hostForm !== 'wildcard' && rng.next() < 0.25) {
      const p = rng.pick(s.ports);
      portLevel.push({ port: p.port, tls: rng.next() < 0.3 ? 'DISABLE' : 'ISTIO_MUTUAL' });
    }
    if (!exportTo && rng.next() < 0.1) exportTo = ['.'];
    const dr: DestinationRulePlan = { namespace, name: `${hostForm === 'wildcard' ? 'all' : s.name}-${pad(out.length, 5)}`, host, hostForm, service: hostForm === 'wildcard' ? -1 : si, tls, subsets, portLevel };
    if (exportTo) dr.exportTo = exportTo;
    if (namespace === s.namespace && hostForm !== 'wildcard' && rng.next() < 0.02) {
      // A rule for one client workload only (Istio 1.20+): kept to the namespace.
      dr.workloadSelector = { app: w.app };
      dr.exportTo = ['.'];
    }
    out.push(dr);
  }
  return out;
}

function paMode(rng: Prng, weights: [number, number, number]): PaMode {
  const r = rng.next();
  return r < weights[0] ? 'STRICT' : r < weights[1] ? 'PERMISSIVE' : r < weights[2] ? 'DISABLE' : 'UNSET';
}

function planPeerAuthentications(rng: Prng, count: number, namespaces: NamespacePlan[], workloads: WorkloadPlan[]): PeerAuthenticationPlan[] {
  const out: PeerAuthenticationPlan[] = [{ namespace: ROOT_NAMESPACE, name: 'default', level: 'mesh', mode: 'STRICT', portLevel: [], workload: -1 }];
  // Most namespaces have their own namespace-wide policy; the rest inherit the mesh's STRICT.
  const nsLevel = Math.min(count - 1, Math.round(namespaces.length * 0.85));
  for (let i = 0; i < nsLevel; i++) {
    out.push({ namespace: at(namespaces, i).name, name: 'default', level: 'namespace', mode: paMode(rng, [0.5, 0.85, 0.93]), portLevel: [], workload: -1 });
  }
  const order = rng.permutation(workloads.length);
  for (let k = 0; out.length < count; k++) {
    const wi = at(order, k % order.length);
    const w = at(workloads, wi);
    const portLevel: PeerAuthenticationPlan['portLevel'] = [];
    if (rng.next() < 0.4) {
      const p = rng.pick(w.ports);
      portLevel.push({ port: p.containerPort, mode: paMode(rng, [0.3, 0.55, 0.95]) });
    }
    const round = Math.floor(k / order.length);
    out.push({ namespace: w.namespace, name: `${w.name}${round ? `-${round}` : ''}`, level: 'workload', mode: paMode(rng, [0.35, 0.7, 0.85]), selector: { app: w.app, version: w.version }, portLevel, workload: wi });
  }
  return out;
}

function planAuthorizationPolicies(rng: Prng, count: number, namespaces: NamespacePlan[], workloads: WorkloadPlan[]): AuthorizationPolicyPlan[] {
  const out: AuthorizationPolicyPlan[] = [];
  for (let i = 0; i < count; i++) {
    const w = at(workloads, rng.int(workloads.length));
    const peerNs = at(namespaces, rng.int(namespaces.length)).name;
    const r = rng.next();
    const identity = r < 0.6 ? 'principals' : r < 0.85 ? 'namespaces' : 'none';
    const peers = identity === 'principals' ? [`${CLUSTER_DOMAIN}/ns/${peerNs}/sa/${rng.pick(APPS)}`, `${CLUSTER_DOMAIN}/ns/${w.namespace}/sa/${w.serviceAccount}`] : identity === 'namespaces' ? [peerNs, w.namespace] : [];
    const ap: AuthorizationPolicyPlan = {
      namespace: w.namespace,
      name: `authz-${pad(i, 4)}`,
      action: rng.next() < 0.85 ? 'ALLOW' : 'DENY',
      identity,
      peers,
      ports: rng.next() < 0.3 ? [String(rng.pick(w.ports).containerPort)] : [],
    };
    if (rng.next() < 0.8) ap.selector = { app: w.app };
    out.push(ap);
  }
  return out;
}

function planServiceEntries(count: number, namespaces: NamespacePlan[]): ServiceEntryPlan[] {
  return Array.from({ length: count }, (_, i) => ({ namespace: at(namespaces, i % namespaces.length).name, name: `external-api-${pad(i, 3)}`, host: `api-${pad(i, 3)}.partner.example.com` }));
}

/** The shape of the mesh, drawn from `size.seed`. */
export function planMesh(size: MeshSize): MeshPlan {
  const rng = new Prng(size.seed);
  const namespaces = planNamespaces(rng, size.namespaces);
  const workloads = planWorkloads(rng, size.workloads, namespaces);
  const services = planServices(rng, size.services, workloads);
  const serviceEntries = planServiceEntries(size.serviceEntries, namespaces);
  const destinationRules = planDestinationRules(rng, size.destinationRules, namespaces, services, workloads, serviceEntries);
  const peerAuthentications = planPeerAuthentications(rng, size.peerAuthentications, namespaces, workloads);
  const authorizationPolicies = planAuthorizationPolicies(rng, size.authorizationPolicies, namespaces, workloads);
  return { size, namespaces, workloads, services, destinationRules, peerAuthentications, authorizationPolicies, serviceEntries };
}

// ---------------------------------------------------------------------------------------------
// Manifests from the plan.

export function namespaceObject(n: { name: string; labels: Record<string, string> }): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n.name, labels: { 'kubernetes.io/metadata.name': n.name, ...n.labels } } };
}

export function deploymentObject(w: WorkloadPlan): KubeObject {
  const labels: Record<string, string> = { app: w.app, version: w.version };
  const podMeta: { labels: Record<string, string>; annotations?: Record<string, string> } = { labels: { ...labels } };
  if (w.inject === 'true') podMeta.labels['sidecar.istio.io/inject'] = 'true';
  if (w.inject === 'false') podMeta.annotations = { 'sidecar.istio.io/inject': 'false' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: w.name, namespace: w.namespace, labels },
    spec: {
      replicas: 2,
      selector: { matchLabels: { ...labels } },
      template: {
        metadata: podMeta,
        spec: {
          serviceAccountName: w.serviceAccount,
          containers: [
            {
              name: 'app',
              image: `registry.example.com/${w.namespace}/${w.app}:1.${w.version === 'v1' ? 4 : 5}.0`,
              ports: w.ports.map((p) => ({ name: p.name, containerPort: p.containerPort, protocol: 'TCP' })),
              readinessProbe: { httpGet: { path: '/ready', port: 'http' } },
            },
          ],
        },
      },
    },
  };
}

export function serviceObject(s: ServicePlan): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace },
    spec: {
      selector: s.selector,
      ports: s.ports.map((p) => ({ name: p.name, port: p.port, protocol: 'TCP', ...(p.targetPort !== undefined && { targetPort: p.targetPort }) })),
    },
  };
}

export function destinationRuleObject(d: DestinationRulePlan): KubeObject {
  const spec: Record<string, unknown> = { host: d.host };
  const trafficPolicy: Record<string, unknown> = {};
  if (d.tls === 'none') trafficPolicy['connectionPool'] = { http: { http2MaxRequests: 1000 } };
  else if (d.tls === 'no-mode') trafficPolicy['tls'] = { sni: d.host };
  else if (d.tls === 'SIMPLE') trafficPolicy['tls'] = { mode: 'SIMPLE', sni: d.host };
  else trafficPolicy['tls'] = { mode: d.tls };
  if (d.portLevel.length) trafficPolicy['portLevelSettings'] = d.portLevel.map((p) => ({ port: { number: p.port }, tls: { mode: p.tls } }));
  spec['trafficPolicy'] = trafficPolicy;
  if (d.subsets.length) spec['subsets'] = d.subsets.map((s) => ({ name: s.name, labels: s.labels, ...(s.tls && { trafficPolicy: { tls: { mode: s.tls } } }) }));
  if (d.exportTo) spec['exportTo'] = d.exportTo;
  if (d.workloadSelector) spec['workloadSelector'] = { matchLabels: d.workloadSelector };
  return { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: d.name, namespace: d.namespace }, spec };
}

export function peerAuthenticationObject(p: PeerAuthenticationPlan): KubeObject {
  const spec: Record<string, unknown> = {};
  if (p.selector) spec['selector'] = { matchLabels: p.selector };
  spec['mtls'] = { mode: p.mode };
  if (p.portLevel.length) spec['portLevelMtls'] = Object.fromEntries(p.portLevel.map((x) => [String(x.port), { mode: x.mode }]));
  return { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: p.name, namespace: p.namespace }, spec };
}

export function authorizationPolicyObject(a: AuthorizationPolicyPlan): KubeObject {
  const source: Record<string, unknown> = a.identity === 'none' ? { requestPrincipals: ['https://issuer.example.com/*'] } : { [a.identity]: a.peers };
  const rule: Record<string, unknown> = { from: [{ source }] };
  if (a.ports.length) rule['to'] = [{ operation: { ports: a.ports } }];
  const spec: Record<string, unknown> = { action: a.action, rules: [rule] };
  if (a.selector) spec['selector'] = { matchLabels: a.selector };
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: a.name, namespace: a.namespace }, spec };
}

export function serviceEntryObject(e: ServiceEntryPlan): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: e.name, namespace: e.namespace },
    spec: { hosts: [e.host], location: 'MESH_EXTERNAL', resolution: 'DNS', ports: [{ number: 443, name: 'https', protocol: 'TLS' }] },
  };
}

/** The manifests of the plan, one at a time: Namespaces, Deployments, Services, ServiceEntries,
 * DestinationRules, PeerAuthentications, AuthorizationPolicies. Fresh objects on every call. */
export function* meshObjects(plan: MeshPlan): Generator<KubeObject> {
  yield namespaceObject({ name: ROOT_NAMESPACE, labels: {} });
  for (const n of plan.namespaces) yield namespaceObject(n);
  for (const w of plan.workloads) yield deploymentObject(w);
  for (const s of plan.services) yield serviceObject(s);
  for (const e of plan.serviceEntries) yield serviceEntryObject(e);
  for (const d of plan.destinationRules) yield destinationRuleObject(d);
  for (const p of plan.peerAuthentications) yield peerAuthenticationObject(p);
  for (const a of plan.authorizationPolicies) yield authorizationPolicyObject(a);
}

/** Every manifest of a mesh of `size`, in one array. */
export function meshSnapshot(size: MeshSize): KubeObject[] {
  return [...meshObjects(planMesh(size))];
}

/** The labels a Deployment's pods carry (template metadata), for selector checks. */
export function podLabels(o: KubeObject): Record<string, string> {
  const template = (o.spec?.['template'] ?? {}) as { metadata?: { labels?: Record<string, string> } };
  return template.metadata?.labels ?? {};
}

/** True when every key of `selector` has that value in `labels` (a Service selector). */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
