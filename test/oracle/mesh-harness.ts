// The mesh differential harness: generators of small meshes, the oracle request for one, and the
// comparison of the mesh model (src/mesh) with Istio's answers. Used by mesh-differential.test.ts
// and mesh-minimize.ts (which shrinks a disagreement to a fixture).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { defaultPolicy } from '../../src/engine/index.js';
import { MeshModel, type Flow } from '../../src/mesh/index.js';
import { type Oracle, type K8sObject, type MeshAnswer, type MeshEndpoint, type MeshQuery, type MeshQueryAnswer, type MeshRequest } from './client.js';

export const ROOT = 'istio-system';
const DOMAIN = 'cluster.local';
/** A client namespace no object of the snapshot lives in. */
const OTHER = 'zz-other';
const SUBSETS = ['', 'v1', 'v2'];
const policy = defaultPolicy();

export type Json = Record<string, unknown>;

// ---- generators ----

const appName = fc.constantFrom('web', 'api');
const version = fc.constantFrom('v1', 'v2');
const ts = (i: number): string => new Date(Date.UTC(2020, 0, 1, 0, 0, i)).toISOString().replace('.000Z', 'Z');

interface GenService {
  name: string;
  namespace: string;
  ports: { name: string; port: number; targetPort?: number | string }[];
}
interface GenWorkload {
  name: string;
  namespace: string;
  app: string;
  version: string;
  ports: { name: string; containerPort: number }[];
  sidecar: boolean;
}
/** What a generated mesh holds: the namespaces and the objects as manifests. */
export interface Mesh {
  namespaces: string[];
  services: GenService[];
  workloads: GenWorkload[];
  /** PeerAuthentications and DestinationRules, in creation order (timestamps may tie). */
  configs: Json[];
}

const servicePort = fc.oneof(
  fc.constantFrom<number | string | undefined>(8080, 'http', undefined, 'grpc').map((targetPort) => ({ name: 'http', port: 80, ...(targetPort !== undefined ? { targetPort } : {}) })),
  fc.constantFrom<number | string | undefined>(9080, 9090, 'grpc', undefined).map((targetPort) => ({ name: 'grpc', port: 9080, ...(targetPort !== undefined ? { targetPort } : {}) })),
);
const containerPorts = fc.subarray([
  { name: 'http', containerPort: 8080 },
  { name: 'grpc', containerPort: 9090 },
  { name: 'metrics', containerPort: 9080 },
], { minLength: 1 });

const peerModeGen = fc.constantFrom('STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET', undefined);
const tlsBlock = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL').map((mode): Json => ({ mode })) },
  { weight: 1, arbitrary: fc.constant<Json>({}) },
  { weight: 1, arbitrary: fc.constant<Json>({ sni: 'x.example.com' }) },
);
const trafficPolicy = fc
  .tuple(
    fc.option(tlsBlock, { nil: undefined }),
    fc.option(fc.array(fc.tuple(fc.constantFrom(80, 9080), fc.option(tlsBlock, { nil: undefined })), { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 2 }),
  )
  .map(([tls, pls]): Json => ({
    ...(tls ? { tls } : {}),
    ...(pls ? { portLevelSettings: pls.map(([number, t]) => ({ port: { number }, ...(t ? { tls: t } : {}) })) } : {}),
  }));

/** Generator options: `emptySelector` includes DestinationRules with `workloadSelector: {matchLabels: {}}`. */
export function meshGen(opts: { emptySelector?: boolean } = {}): fc.Arbitrary<Mesh> {
  const emptySelector = opts.emptySelector ?? false;
  return fc.boolean().chain((three) => {
    const namespaces = three ? [ROOT, 'ns-a', 'ns-b'] : [ROOT, 'ns-a'];
    const appNs = fc.constantFrom(...namespaces.filter((n) => n !== ROOT));
    const workloadNs = fc.oneof({ weight: 6, arbitrary: appNs }, { weight: 1, arbitrary: fc.constant(ROOT) });
    const anyNs = fc.constantFrom(...namespaces);
    const service = fc.record({ name: appName, namespace: workloadNs, ports: fc.uniqueArray(servicePort, { minLength: 1, maxLength: 2, selector: (p) => p.port }) });
    const workload = fc.record({ app: appName, version, namespace: workloadNs, ports: containerPorts, sidecar: fc.boolean() });
    const peerAuthentication = fc
      .tuple(
        anyNs,
        fc.constantFrom<Json | undefined>(undefined, undefined, { matchLabels: { app: 'web' } }, { matchLabels: { version: 'v1' } }),
        peerModeGen,
        fc.option(fc.dictionary(fc.constantFrom('8080', '9090', '9080'), peerModeGen.map((mode): Json => (mode === undefined ? {} : { mode })), { minKeys: 1, maxKeys: 2 }), { nil: undefined }),
        fc.nat(9),
      )
      .map(([ns, selector, mode, ports, dice]): Json => ({
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: { namespace: ns },
        spec: {
          ...(selector ? { selector } : {}),
          ...(mode !== undefined ? { mtls: { mode } } : dice === 0 ? { mtls: {} } : {}),
          // portLevelMtls needs a selector (validation); a namespace-wide one that got stored anyway, rarely.
          ...(ports && (selector || dice === 1) ? { portLevelMtls: ports } : {}),
        },
      }));
    const host = fc.oneof(
      appName,
      fc.tuple(appName, appNs).map(([a, n]) => `${a}.${n}.svc.${DOMAIN}`),
      appNs.map((n) => `*.${n}.svc.${DOMAIN}`),
      fc.constantFrom('*.local', '*', `*.svc.${DOMAIN}`),
    );
    const destinationRule = fc
      .tuple(
        anyNs,
        host,
        fc.option(trafficPolicy, { nil: undefined }),
        fc.uniqueArray(version, { maxLength: 2 }).chain((names) => fc.tuple(...names.map((name) => fc.option(trafficPolicy, { nil: undefined }).map((tp) => ({ name, labels: { version: name }, ...(tp ? { trafficPolicy: tp } : {}) }))))),
        fc.constantFrom<string[] | 'other' | 'own' | 'dot+other' | undefined>(undefined, undefined, ['.'], ['*'], 'other', 'own', 'dot+other', [ROOT], ['~'], ['ns-a', 'ns-b']),
        fc.oneof(
          { weight: 12, arbitrary: fc.constant(undefined) },
          { weight: 4, arbitrary: appName.map((app): Json => ({ matchLabels: { app } })) },
          { weight: 1, arbitrary: fc.constant<Json>({ matchLabels: { app: 'web', version: 'v1' } }) },
          { weight: emptySelector ? 1 : 0, arbitrary: fc.constant<Json>({ matchLabels: {} }) },
        ),
      )
      .map(([ns, h, tp, subsets, exportTo, workloadSelector]): Json => {
        const other = namespaces.find((n) => n !== ns && n !== ROOT) ?? 'ns-a';
        const exp = exportTo === 'other' ? [other] : exportTo === 'own' ? [ns] : exportTo === 'dot+other' ? ['.', other] : exportTo;
        return {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: { namespace: ns },
          spec: { host: h, ...(tp ? { trafficPolicy: tp } : {}), ...(subsets.length ? { subsets } : {}), ...(exp ? { exportTo: exp } : {}), ...(workloadSelector ? { workloadSelector } : {}) },
        };
      });
    return fc
      .record({
        services: fc.uniqueArray(service, { minLength: 1, maxLength: 3, selector: (s) => `${s.namespace}/${s.name}` }),
        workloads: fc.array(workload, { minLength: 1, maxLength: 3 }),
        pas: fc.array(peerAuthentication, { maxLength: 4 }),
        drs: fc.array(destinationRule, { maxLength: 4 }),
        order: fc.array(fc.nat(), { maxLength: 8 }),
        ties: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      })
      .map(({ services, workloads, pas, drs, order, ties }): Mesh => {
        // Interleave the configs in a generated order, name them, and stamp creation times (some tie).
        const configs = [...pas, ...drs];
        order.forEach((n, i) => {
          const j = n % configs.length;
          if (configs.length > 1) [configs[i % configs.length], configs[j]] = [configs[j] as Json, configs[i % configs.length] as Json];
        });
        let t = 0;
        configs.forEach((c, i) => {
          if (i > 0 && !ties[i % ties.length]) t++;
          const m = c['metadata'] as Json;
          m['name'] = `${c['kind'] === 'PeerAuthentication' ? 'pa' : 'dr'}-${String.fromCharCode(122 - i)}`;
          m['creationTimestamp'] = ts(t);
        });
        return {
          namespaces,
          services,
          workloads: workloads.map((w, i) => ({ ...w, name: `${w.app}-${w.version}-${i}` })),
          configs,
        };
      });
  });
}

// ---- the mesh as manifests (model) and as the oracle's snapshot ----

export function manifests(mesh: Mesh): Json[] {
  const out: Json[] = [];
  for (const ns of mesh.namespaces) out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'istio-injection': 'enabled' } } });
  for (const s of mesh.services) {
    out.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: s.name, namespace: s.namespace }, spec: { selector: { app: s.name }, ports: s.ports } });
  }
  for (const w of mesh.workloads) {
    out.push({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: w.name, namespace: w.namespace },
      spec: {
        selector: { matchLabels: { app: w.app, version: w.version } },
        template: {
          metadata: { labels: { app: w.app, version: w.version, ...(w.sidecar ? {} : { 'sidecar.istio.io/inject': 'false' }) } },
          spec: { containers: [{ name: 'app', image: 'app', ports: w.ports }] },
        },
      },
    });
  }
  return [...out, ...mesh.configs];
}

/** The clients probed: every namespace (and one outside the snapshot) x no labels and the labels of every DestinationRule workloadSelector. */
function clients(mesh: Mesh): { namespace: string; labels: Record<string, string> }[] {
  const labelSets = new Map<string, Record<string, string>>([
    ['{}', {}],
    ['web-v1', { app: 'web', version: 'v1' }],
  ]);
  for (const c of mesh.configs) {
    const sel = ((c['spec'] as Json)['workloadSelector'] as Json | undefined)?.['matchLabels'] as Record<string, string> | undefined;
    if (sel) labelSets.set(JSON.stringify(sel), sel);
  }
  return [...mesh.namespaces, OTHER].flatMap((namespace) => [...labelSets.values()].map((labels) => ({ namespace, labels })));
}

export function queries(mesh: Mesh): MeshQuery[] {
  const out: MeshQuery[] = [];
  for (const c of clients(mesh)) {
    for (const s of mesh.services) {
      for (const p of s.ports) {
        for (const subset of SUBSETS) out.push({ clientNamespace: c.namespace, clientLabels: c.labels, host: `${s.name}.${s.namespace}.svc.${DOMAIN}`, port: p.port, subset });
      }
    }
  }
  return out;
}

export function request(mesh: Mesh): MeshRequest {
  return {
    op: 'mesh',
    rootNamespace: ROOT,
    services: mesh.services.map((s) => ({ ...s, selector: { app: s.name } })),
    workloads: mesh.workloads.map((w) => ({ name: w.name, namespace: w.namespace, labels: { app: w.app, version: w.version }, ports: w.ports, sidecar: w.sidecar })),
    configs: mesh.configs as K8sObject[],
    queries: queries(mesh),
  };
}

// ---- comparison ----

/** The outcome composed from Istio's answers (README.md "mesh": the table). */
export function istioOutcome(tls: string | null, ep: MeshEndpoint): string {
  const t = tls ?? 'AUTO';
  const accepts = ep.sidecar && (ep.mode === 'STRICT' || ep.mode === 'PERMISSIVE');
  switch (t) {
    case 'ISTIO_MUTUAL':
      return accepts ? 'mtls' : 'broken';
    case 'AUTO':
      return accepts ? 'mtls' : 'plaintext';
    case 'DISABLE':
      return ep.sidecar && ep.mode === 'STRICT' ? 'broken' : 'plaintext';
    default:
      return ep.sidecar && ep.mode === 'STRICT' ? 'broken' : 'tls';
  }
}

const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The model's flows for one client, host, port and subset: a group naming the namespace (or
 * "other namespaces") whose workloadSelector the client's labels satisfy, else the one without. */
function modelFlows(flows: Flow[], known: Set<string>, q: MeshQuery): Flow[] {
  const labels = q.clientLabels ?? {};
  // The group is chosen per client x host x port (the rule decides which subsets exist), then the subset.
  const matching = flows.filter(
    (f) =>
      f.host === q.host &&
      f.servicePort === q.port &&
      (f.clients.namespaces.includes(q.clientNamespace) || (f.clients.otherNamespaces && !known.has(q.clientNamespace))),
  );
  const withSelector = matching.filter((f) => f.clients.workloadSelector && selects(f.clients.workloadSelector, labels));
  const first = withSelector[0]?.clients.workloadSelector;
  const group = first ? withSelector.filter((f) => JSON.stringify(f.clients.workloadSelector) === JSON.stringify(first)) : matching.filter((f) => !f.clients.workloadSelector);
  return group.filter((f) => (f.subset ?? '') === q.subset);
}

export interface Disagreement {
  aspect: 'serverPort' | 'destinationRules' | 'clientTls' | 'endpoints' | 'outcome' | 'subsets';
  query?: MeshQuery;
  model: unknown;
  istio: unknown;
}

const refName = (r: { namespace: string; name: string }): string => `${r.namespace}/${r.name}`;

/** Every disagreement between the model and Istio's answer on one mesh. */
export function compare(mesh: Mesh, model: MeshModel, answer: MeshAnswer, reqQueries: MeshQuery[]): Disagreement[] {
  const out: Disagreement[] = [];
  // Server side.
  const istioPorts = new Map(answer.serverPorts.map((p) => [`${p.workload}:${p.port}`, p]));
  const modelPorts = new Map(model.serverPorts().map((p) => [`${refName(p.workload)}:${p.port}`, p]));
  for (const [k, p] of istioPorts) {
    const m = modelPorts.get(k);
    if (!m) out.push({ aspect: 'serverPort', model: null, istio: p });
    else if (m.mode !== p.mode || m.sidecar !== p.sidecar) out.push({ aspect: 'serverPort', model: { workload: k, mode: m.mode, sidecar: m.sidecar }, istio: p });
  }
  for (const [k, m] of modelPorts) if (!istioPorts.has(k)) out.push({ aspect: 'serverPort', model: { workload: k, mode: m.mode }, istio: null });

  // Client side, per query.
  const flows = model.flows();
  const known = new Set(mesh.namespaces);
  reqQueries.forEach((q, i) => {
    const a = answer.queries[i] as MeshQueryAnswer;
    const fs = modelFlows(flows, known, q);
    if (q.subset !== '' && !a.subsetDefined) {
      if (fs.length > 0) out.push({ aspect: 'subsets', query: q, model: `flows for subset ${q.subset} via ${fs[0]?.destinationRules.map(refName).join(',')}`, istio: `no subset ${q.subset} in ${a.destinationRules.join(',') || 'no rule'}` });
      return;
    }
    if (fs.length === 0) {
      out.push({ aspect: 'subsets', query: q, model: 'no flow', istio: { destinationRules: a.destinationRules, subsetDefined: a.subsetDefined } });
      return;
    }
    const f0 = fs[0] as Flow;
    const modelDrs = f0.destinationRules.map(refName).sort();
    const istioDrs = [...a.destinationRules].sort();
    if (modelDrs.join(' ') !== istioDrs.join(' ')) out.push({ aspect: 'destinationRules', query: q, model: modelDrs, istio: istioDrs });
    const istioTls = a.clientTls ?? 'AUTO';
    if (f0.clientTls !== istioTls) out.push({ aspect: 'clientTls', query: q, model: f0.clientTls, istio: istioTls });
    const modelEps = new Map(fs.filter((f) => f.server).map((f) => [`${refName((f.server as NonNullable<Flow['server']>).workload)}:${f.server?.port}`, f]));
    const istioEps = new Map(a.endpoints.map((e) => [`${e.workload}:${e.port}`, e]));
    const mk = [...modelEps.keys()].sort().join(' ');
    const ik = [...istioEps.keys()].sort().join(' ');
    if (mk !== ik) out.push({ aspect: 'endpoints', query: q, model: [...modelEps.keys()].sort(), istio: [...istioEps.keys()].sort() });
    for (const [k, e] of istioEps) {
      const f = modelEps.get(k);
      if (!f) continue;
      const want = istioOutcome(a.clientTls, e);
      if (f.outcome !== want) out.push({ aspect: 'outcome', query: q, model: { outcome: f.outcome, clientTls: f.clientTls, server: { mode: f.server?.mode, sidecar: f.server?.sidecar } }, istio: { outcome: want, clientTls: istioTls, server: e } });
    }
  });
  return out;
}

/** Counts of disagreements by aspect, with the first few examples. */
export class Tally {
  readonly byAspect = new Map<string, number>();
  readonly meshesWith = new Map<string, number>();
  readonly examples: string[] = [];
  meshes = 0;
  queries = 0;
  /** What Istio answered, to show the generator reaches every case (and to catch it going vacuous). */
  readonly coverage = new Map<string, number>();
  see(what: string): void {
    this.coverage.set(what, (this.coverage.get(what) ?? 0) + 1);
  }
  add(mesh: Mesh, ds: Disagreement[]): void {
    this.meshes++;
    const aspects = new Set<string>();
    for (const d of ds) {
      this.byAspect.set(d.aspect, (this.byAspect.get(d.aspect) ?? 0) + 1);
      aspects.add(d.aspect);
    }
    for (const a of aspects) this.meshesWith.set(a, (this.meshesWith.get(a) ?? 0) + 1);
    if (ds.length && this.examples.length < 6) {
      this.examples.push(`${ds.slice(0, 3).map((d) => JSON.stringify(d)).join('\n    ')}\n    mesh: ${JSON.stringify(manifestsForReport(mesh))}`);
    }
  }
  summary(): string {
    return `${this.meshes} meshes, ${this.queries} queries; Istio's answers: ${JSON.stringify(Object.fromEntries([...this.coverage].sort()))}; disagreements by aspect: ${JSON.stringify(Object.fromEntries(this.byAspect))}; meshes with: ${JSON.stringify(Object.fromEntries(this.meshesWith))}`;
  }
}

function manifestsForReport(mesh: Mesh): unknown {
  return { namespaces: mesh.namespaces, services: mesh.services, workloads: mesh.workloads, configs: mesh.configs };
}

/**
 * Runs the comparison over `runs` meshes for each seed.
 * @param opts.emptySelector generate DestinationRules with an empty workloadSelector (a known model bug).
 * @param opts.compareWith replaces the comparison (the mutation check uses it).
 */
export async function runMeshes(
  oracle: Oracle,
  seeds: number[],
  runs: number,
  opts: { emptySelector?: boolean; compareWith?: typeof compare } = {},
): Promise<Tally> {
  const tally = new Tally();
  const cmp = opts.compareWith ?? compare;
  for (const seed of seeds) {
    const meshes = fc.sample(meshGen({ emptySelector: opts.emptySelector ?? false }), { numRuns: runs, seed });
    const requests = meshes.map(request);
    const answers = await oracle.ask(requests);
    meshes.forEach((mesh, i) => {
      const a = answers[i];
      assert.ok(a?.ok, `oracle failed on mesh (seed ${seed} #${i}): ${JSON.stringify(a)}\n${JSON.stringify(requests[i])}`);
      const req = requests[i] as MeshRequest;
      tally.queries += req.queries.length;
      const answer = a as MeshAnswer;
      for (const p of answer.serverPorts) tally.see(`server ${p.sidecar ? 'sidecar' : 'no-sidecar'} ${p.mode}`);
      answer.queries.forEach((qa, j) => {
        const q = req.queries[j] as MeshQuery;
        if (q.subset !== '' && !qa.subsetDefined) return;
        tally.see(`rules picked ${Math.min(qa.destinationRules.length, 2)}${qa.destinationRules.length > 1 ? '+' : ''}`);
        tally.see(`clientTls ${qa.clientTls ?? 'AUTO'}`);
        if (qa.destinationRules.length) {
          const cns = qa.destinationRules[0]?.split('/')[0];
          tally.see(`rule from ${cns === q.clientNamespace ? 'client ns' : cns === ROOT ? 'root ns' : 'service ns'}`);
        }
        for (const e of qa.endpoints) tally.see(`outcome ${istioOutcome(qa.clientTls, e)}`);
      });
      tally.add(mesh, cmp(mesh, MeshModel.build(manifests(mesh), policy), answer, req.queries));
    });
  }
  return tally;
}

