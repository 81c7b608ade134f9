// `npm run bench:mesh` (also a slice of `npm run bench`): the mesh model on a realistic mesh
// (bench/mesh-snapshot.ts: 10,000 Services, 5,000 DestinationRules, 2,000 PeerAuthentications,
// 10,000 workloads, 500 AuthorizationPolicies over 200 namespaces), all in one process and run:
//   - build: `MeshModel.build` time, and what the model keeps (heap used and RSS after full GCs,
//     against the same point before; the manifests are generated lazily and not kept);
//   - incremental update: `model.apply` of one changed DestinationRule / PeerAuthentication /
//     Service (then changed back), and the first mesh question after it against the same
//     question asked twice (work deferred to the next read would show there);
//   - the added cost per admission: `evaluate()` with and without `mesh: model`, interleaved call
//     by call, for DR CREATE DISABLE, DR UPDATE, PA CREATE STRICT namespace-wide, PA UPDATE
//     namespace-wide to STRICT, PA CREATE workload DISABLE, Deployment CREATE;
//   - full scan: `serverPorts()` + `flows()` + `authorizationConflicts()`, and, when
//     src/cli/scan.ts exists and is built, `node bin/mtls-guard.js scan -f DIR -o json` on the
//     snapshot written to a temporary folder (bounded by a timeout, removed after).
// Writes bench/mesh-results.json and the `npm run bench:mesh` section of BENCHMARKS.md.
//
//   npm run bench:mesh                  # full size, ~1-3 minutes
//   npm run bench:mesh -- --quick       # fewer samples; prints the section, writes no files
//   npm run bench:mesh -- --scale 0.1   # a tenth of the mesh (every count)
//   npm run bench:mesh -- --out FILE    # results JSON to FILE (and BENCHMARKS.md left alone)
//   npm run bench:mesh -- --build       # npm run build first (for the CLI scan)
//   npm run bench:mesh -- --no-cli      # skip the CLI scan
//   npm run bench:mesh -- --emit DIR    # only write the snapshot as YAML to DIR (for profiling scan)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { Decision, EngineRequest, MeshView, Policy } from '../src/engine/index.js';
import type * as EngineTypes from '../src/engine/index.js';
import type { MeshModel } from '../src/mesh/index.js';
import type * as MeshTypes from '../src/mesh/index.js';
import { meshMarkdown, meshTargets, MESH_BEGIN, MESH_END, type AdmissionResult, type BuildResult, type CliScanResult, type IncrementalResult, type MeshBenchResults, type Percentiles, type ScanResult } from './mesh-report.js';
import {
  deploymentObject,
  destinationRuleObject,
  FULL_MESH,
  meshObjects,
  peerAuthenticationObject,
  planMesh,
  scaleMesh,
  serviceObject,
  type DestinationRulePlan,
  type KubeObject,
  type MeshPlan,
  type PeerAuthenticationPlan,
  ROOT_NAMESPACE,
} from './mesh-snapshot.js';

/** Set for the process that measures (after the re-run under plain node or with --expose-gc). */
const INNER = 'MTLS_GUARD_MESH_BENCH_ROOT';
const ROOT = process.env[INNER] ?? fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scale: { type: 'string' },
    out: { type: 'string' },
    build: { type: 'boolean', default: false },
    'no-cli': { type: 'boolean', default: false },
    src: { type: 'boolean', default: false },
    'cli-timeout': { type: 'string' },
    emit: { type: 'string' },
  },
});

const QUICK = flags.quick;
const SIZE = scaleMesh(FULL_MESH, Number(flags.scale ?? 1));
const BUILDS = QUICK ? 1 : 2;
/** Objects changed per kind (each applied changed, then back: twice as many applies). */
const CHANGES = QUICK ? 50 : 250;
/** Calls per side per request, and a time budget per request (ms) that may cut it short. */
const ADMISSIONS = QUICK ? 300 : 3000;
const ADMISSION_BUDGET_MS = QUICK ? 1500 : 5000;
const WARMUP = QUICK ? 50 : 300;
/** Time for the mesh questions after applies, per object kind (ms). */
const QUERY_BUDGET_MS = QUICK ? 1500 : 4000;
const ROUNDS = QUICK ? 1 : 3;
const CLI_TIMEOUT_S = Number(flags['cli-timeout'] ?? 60);
const MIB = 1024 * 1024;
const log = (msg: string): void => void process.stderr.write(`bench:mesh: ${msg}\n`);

// ---------------------------------------------------------------------------------------------
// The code measured: dist/ (tsc output, what `serve`, `check` and `scan` run) when it is at least
// as new as every source file it comes from, else src/ through tsx (esbuild adds a `__name`
// call per named closure, a few per cent in the model's hot loops).

type EngineModule = typeof EngineTypes;
type MeshModule = typeof MeshTypes;

let evaluate: EngineModule['evaluate'];
let defaultPolicy: EngineModule['defaultPolicy'];
let Model: MeshModule['MeshModel'];

function newestMtime(dir: string): number {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) if (f.endsWith('.ts')) newest = Math.max(newest, statSync(join(dir, f)).mtimeMs);
  return newest;
}

function distFresh(): boolean {
  const distModel = join(ROOT, 'dist/mesh/model.js');
  return existsSync(distModel) && existsSync(join(ROOT, 'dist/engine/index.js')) && statSync(distModel).mtimeMs >= Math.max(...['src/engine', 'src/mesh', 'src/util'].map((d) => newestMtime(join(ROOT, d))));
}

async function loadCode(): Promise<string> {
  const fromDist = !flags.src && distFresh();
  const base = fromDist ? join(ROOT, 'dist') : join(ROOT, 'src');
  const ext = fromDist ? 'js' : 'ts';
  const engine = (await import(pathToFileURL(join(base, `engine/index.${ext}`)).href)) as EngineModule;
  const mesh = (await import(pathToFileURL(join(base, `mesh/index.${ext}`)).href)) as MeshModule;
  evaluate = engine.evaluate;
  defaultPolicy = engine.defaultPolicy;
  Model = mesh.MeshModel;
  const loader = process.execArgv.some((a) => a.includes('tsx'));
  return fromDist ? `dist/ (tsc output${loader ? ', through tsx' : ' on plain node'})` : `src/ through tsx${flags.src ? '' : ' (dist/ missing or older than src/; npm run build, or --build)'}`;
}

/**
 * Runs the measuring process: with dist/ fresh, this bench transpiled (TypeScript's
 * transpileModule, as for the baseline server) into .tmp/ and run on plain node, so that tsx's
 * loader, which also rewrites dist/'s JavaScript (esbuild keepNames: a `__name` call per named
 * closure, ~6-12 % of the model's profile), is not measured; else under tsx. Both with --expose-gc.
 */
async function runInner(): Promise<number> {
  const args = process.argv.slice(2).filter((a) => a !== '--build');
  const env = { ...process.env, [INNER]: ROOT };
  if (!flags.src && distFresh()) {
    const ts = (await import('typescript')).default;
    const dir = join(ROOT, '.tmp/bench-mesh');
    mkdirSync(dir, { recursive: true });
    for (const f of ['mesh.ts', 'mesh-snapshot.ts', 'mesh-report.ts']) {
      const out = ts.transpileModule(readFileSync(join(ROOT, 'bench', f), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
      writeFileSync(join(dir, f.replace(/\.ts$/, '.js')), out.outputText);
    }
    return spawnSync(process.execPath, ['--expose-gc', join(dir, 'mesh.js'), ...args], { stdio: 'inherit', env }).status ?? 1;
  }
  return spawnSync(process.execPath, [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), ...args], { stdio: 'inherit', env }).status ?? 1;
}

// ---------------------------------------------------------------------------------------------

function gcFull(): void {
  const gc = globalThis.gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
}

function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

function percentiles(samples: number[]): Percentiles {
  const s = Float64Array.from(samples).sort();
  const q = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? 0;
  return { p50Us: q(0.5), p99Us: q(0.99), maxUs: s[s.length - 1] ?? 0 };
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Wall µs of one call, and its CPU µs (whole process) added to `cpu.total`. */
function timeCpuUs(f: () => void, cpu: { total: number }): number {
  const c0 = cpuUs();
  const t0 = nowUs();
  f();
  const t = nowUs() - t0;
  cpu.total += cpuUs() - c0;
  return t;
}

function timeUs(f: () => void): number {
  const t0 = nowUs();
  f();
  return nowUs() - t0;
}

const at = <T>(xs: readonly T[], i: number): T => {
  const x = xs[i];
  if (x === undefined) throw new Error(`index ${i} out of ${xs.length}`);
  return x;
};

/** Every `step`-th element, `n` of them (deterministic spread over the list). */
function spread<T>(xs: readonly T[], n: number): T[] {
  if (xs.length === 0) return [];
  const step = Math.max(1, Math.floor(xs.length / n));
  const out: T[] = [];
  for (let i = 0; i < xs.length && out.length < n; i += step) out.push(at(xs, i));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The model.

function modelStatus(policy: Policy): string {
  try {
    const m = Model.build([], policy);
    m.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'probe' } });
    m.serverPorts();
    return 'ok';
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return /not implemented/.test(message) ? 'src/mesh/model.ts still throws "not implemented"' : `the model threw: ${message.slice(0, 200)}`;
  }
}

function measureBuild(plan: MeshPlan, policy: Policy): { model: MeshModel; build: BuildResult } {
  const runsMs: number[] = [];
  const cpuMs: number[] = [];
  const held: { model?: MeshModel } = {};
  let before = process.memoryUsage();
  for (let i = 0; i < BUILDS; i++) {
    // The previous build must be garbage before the next one's baseline.
    delete held.model;
    gcFull();
    before = process.memoryUsage();
    const c0 = cpuUs();
    const t0 = performance.now();
    held.model = Model.build(meshObjects(plan), policy);
    runsMs.push(performance.now() - t0);
    cpuMs.push((cpuUs() - c0) / 1000);
    log(`build ${i + 1}/${BUILDS}: ${runsMs.at(-1)?.toFixed(0)} ms`);
  }
  gcFull();
  const after = process.memoryUsage();
  const model = held.model;
  if (!model) throw new Error('no build');
  return {
    model,
    build: {
      runsMs,
      cpuMs,
      heapUsedDeltaMiB: (after.heapUsed - before.heapUsed) / MIB,
      rssDeltaMiB: (after.rss - before.rss) / MIB,
      externalDeltaMiB: (after.external - before.external) / MIB,
    },
  };
}

function toggledTls(d: DestinationRulePlan): DestinationRulePlan {
  return { ...d, tls: d.tls === 'DISABLE' ? 'ISTIO_MUTUAL' : 'DISABLE' };
}

function toggledMode(p: PeerAuthenticationPlan): PeerAuthenticationPlan {
  return { ...p, mode: p.mode === 'STRICT' ? 'PERMISSIVE' : 'STRICT' };
}

interface ChangeCase {
  original: KubeObject;
  changed: KubeObject;
  /** The object a mesh question is asked about next, and the question (each time on a fresh
   * copy, as each admission brings a newly parsed object: a model that remembers its last answer
   * for the same object must not answer from memory here). */
  asked: KubeObject;
  query: (o: KubeObject) => void;
}

function incremental(kind: IncrementalResult['kind'], change: string, cases: ChangeCase[], model: MeshModel): IncrementalResult {
  const apply: number[] = [];
  const after: number[] = [];
  const stable: number[] = [];
  // Every case's applies are timed; the (much slower) questions only until the budget is spent.
  const deadline = performance.now() + QUERY_BUDGET_MS;
  for (const c of cases) {
    for (const o of [c.changed, c.original]) {
      const copy = structuredClone(o);
      apply.push(timeUs(() => model.apply(copy)));
      if (after.length < 2 || performance.now() < deadline) {
        const first = structuredClone(c.asked);
        const again = structuredClone(c.asked);
        after.push(timeUs(() => c.query(first)));
        stable.push(timeUs(() => c.query(again)));
      }
    }
  }
  const r: IncrementalResult = { kind, change, samples: apply.length, querySamples: after.length, apply: percentiles(apply), queryAfterApply: percentiles(after), queryStable: percentiles(stable) };
  log(`apply ${kind}: p50 ${r.apply.p50Us.toFixed(1)} p99 ${r.apply.p99Us.toFixed(1)} µs; question after p50 ${r.queryAfterApply.p50Us.toFixed(1)} µs, unchanged ${r.queryStable.p50Us.toFixed(1)} µs (${after.length} questions)`);
  return r;
}

function measureIncremental(plan: MeshPlan, model: MeshModel): IncrementalResult[] {
  const meta = (o: KubeObject): [string, string] => [o.metadata.namespace ?? '', o.metadata.name];
  const drs = spread(
    plan.destinationRules.filter((d) => d.service >= 0),
    CHANGES,
  );
  const drCases = drs.map((d): ChangeCase => {
    const changed = destinationRuleObject(toggledTls(d));
    return { original: destinationRuleObject(d), changed, asked: changed, query: (o) => void model.destinationRuleFlows(o, ...meta(o)) };
  });
  const pas = spread(
    plan.peerAuthentications.filter((p) => p.level !== 'mesh'),
    CHANGES,
  );
  const paCases = pas.map((p): ChangeCase => {
    const changed = peerAuthenticationObject(toggledMode(p));
    return { original: peerAuthenticationObject(p), changed, asked: changed, query: (o) => void model.peerAuthenticationEffect(o, ...meta(o)) };
  });
  const svcCases = drs.map((d): ChangeCase => {
    const s = at(plan.services, d.service);
    // A named targetPort becomes the number and back, or a numeric one the name.
    const ports = s.ports.map((p) => (p.name === 'http' ? { ...p, targetPort: typeof p.targetPort === 'string' ? 8080 : 'http' } : p));
    const dr = destinationRuleObject(d);
    return { original: serviceObject(s), changed: serviceObject({ ...s, ports }), asked: dr, query: (o) => void model.destinationRuleFlows(o, ...meta(o)) };
  });
  return [
    incremental('DestinationRule', 'trafficPolicy.tls.mode ISTIO_MUTUAL ↔ DISABLE', drCases, model),
    incremental('PeerAuthentication', 'mtls.mode STRICT ↔ PERMISSIVE (namespace and workload level)', paCases, model),
    incremental('Service', 'targetPort named ↔ numeric', svcCases, model),
  ];
}

// ---------------------------------------------------------------------------------------------
// Admission requests.

const USER = { username: 'alice@example.com', groups: ['system:authenticated', 'team-a'] };
const DR_KIND = { group: 'networking.istio.io', version: 'v1', kind: 'DestinationRule' };
const PA_KIND = { group: 'security.istio.io', version: 'v1', kind: 'PeerAuthentication' };

interface AdmissionCase {
  id: string;
  title: string;
  req: EngineRequest;
}

function request(kind: EngineRequest['kind'], operation: 'CREATE' | 'UPDATE', object: KubeObject, oldObject?: KubeObject): EngineRequest {
  return { kind, operation, namespace: object.metadata.namespace ?? '', name: object.metadata.name, object, ...(oldObject && { oldObject }), user: USER };
}

function admissionCases(plan: MeshPlan): AdmissionCase[] {
  const nsPa = new Map(plan.peerAuthentications.filter((p) => p.level === 'namespace').map((p) => [p.namespace, p]));
  const dataPlane = new Map(plan.namespaces.map((n) => [n.name, n.dataPlane]));
  const strictNs = (ns: string): boolean => dataPlane.get(ns) === 'sidecar' && (nsPa.get(ns)?.mode ?? 'STRICT') === 'STRICT';
  // A Service in a STRICT sidecar namespace that no rule names yet (exact host or namespace
  // wildcard), on a workload without a policy of its own: a new DISABLE rule is the 503.
  const ruled = new Set(plan.destinationRules.map((d) => d.service));
  const wildcarded = new Set(plan.destinationRules.filter((d) => d.hostForm === 'wildcard').map((d) => d.host.split('.')[1]));
  const ownPolicy = new Set(plan.peerAuthentications.map((p) => p.workload));
  const target = plan.services.find((s, i) => strictNs(s.namespace) && !ruled.has(i) && !wildcarded.has(s.namespace) && !ownPolicy.has(s.workload) && plan.workloads[s.workload]?.inject !== 'false') ?? at(plan.services, 0);
  const drCreate = destinationRuleObject({ namespace: target.namespace, name: `${target.name}-plaintext`, host: target.name, hostForm: 'short', service: -1, tls: 'DISABLE', subsets: [], portLevel: [] });
  // An existing ISTIO_MUTUAL rule with subsets, edited: connection pool and a port-level setting added.
  const drPlan = plan.destinationRules.find((d) => d.service >= 0 && d.tls === 'ISTIO_MUTUAL' && d.subsets.length > 0) ?? at(plan.destinationRules, plan.destinationRules.length - 1);
  const drOld = destinationRuleObject(drPlan);
  const drNew = destinationRuleObject({ ...drPlan, portLevel: [{ port: 80, tls: 'ISTIO_MUTUAL' }] });
  // Namespace-wide STRICT where the namespace has no policy of its own (mesh default inherited).
  const bare = plan.namespaces.find((n) => !nsPa.has(n.name) && n.dataPlane === 'sidecar') ?? at(plan.namespaces, plan.namespaces.length - 1);
  const paCreate = peerAuthenticationObject({ namespace: bare.name, name: 'strict', level: 'namespace', mode: 'STRICT', portLevel: [], workload: -1 });
  // The namespace PERMISSIVE policy that most DISABLE rules send plaintext to, made STRICT.
  const disabledInto = new Map<string, number>();
  for (const d of plan.destinationRules) {
    if (d.service < 0 || d.tls !== 'DISABLE') continue;
    const ns = at(plan.services, d.service).namespace;
    disabledInto.set(ns, (disabledInto.get(ns) ?? 0) + 1);
  }
  const permissive = [...nsPa.values()].filter((p) => p.mode === 'PERMISSIVE').sort((a, b) => (disabledInto.get(b.namespace) ?? 0) - (disabledInto.get(a.namespace) ?? 0))[0];
  // A workload under an AuthorizationPolicy that matches principals, switched to DISABLE.
  const authz = plan.authorizationPolicies.find((a) => a.identity === 'principals' && a.selector && a.action === 'ALLOW');
  const w = (authz && plan.workloads.find((x) => x.namespace === authz.namespace && x.app === authz.selector?.['app'])) ?? at(plan.workloads, 0);
  const paWorkload = peerAuthenticationObject({ namespace: w.namespace, name: `${w.app}-plaintext`, level: 'workload', mode: 'DISABLE', selector: { app: w.app }, portLevel: [], workload: -1 });
  const deployment = deploymentObject({ ...w, name: `${w.app}-v3`, version: 'v3' });
  // The root namespace's mesh-wide rule (`*.cluster.local`) and a namespace wildcard, edited.
  const meshWide = plan.destinationRules.find((d) => d.hostForm === 'mesh-wide');
  const wildcard = plan.destinationRules.find((d) => d.hostForm === 'wildcard');
  const edited = (d: DestinationRulePlan): AdmissionCase['req'] => request(DR_KIND, 'UPDATE', destinationRuleObject({ ...d, tls: 'none' }), destinationRuleObject(d));
  const cases: AdmissionCase[] = [
    { id: 'dr-create-disable', title: `DR CREATE DISABLE (${drCreate.metadata.namespace}, STRICT server)`, req: request(DR_KIND, 'CREATE', drCreate) },
    { id: 'dr-update', title: 'DR UPDATE (ISTIO_MUTUAL, subsets, port-level added)', req: request(DR_KIND, 'UPDATE', drNew, drOld) },
    ...(wildcard ? [{ id: 'dr-update-wildcard', title: `DR UPDATE namespace wildcard (${wildcard.host}, tls removed)`, req: edited(wildcard) }] : []),
    ...(meshWide ? [{ id: 'dr-update-mesh-wide', title: `DR UPDATE mesh-wide (${ROOT_NAMESPACE}, ${meshWide.host}, tls removed)`, req: edited(meshWide) }] : []),
    { id: 'pa-create-strict-ns', title: `PA CREATE STRICT namespace-wide (${bare.name})`, req: request(PA_KIND, 'CREATE', paCreate) },
  ];
  if (permissive) {
    const old = peerAuthenticationObject(permissive);
    const tightened = peerAuthenticationObject({ ...permissive, mode: 'STRICT' });
    cases.push({ id: 'pa-update-strict-ns', title: `PA UPDATE namespace-wide PERMISSIVE → STRICT (${permissive.namespace}, ${disabledInto.get(permissive.namespace) ?? 0} DISABLE rules in)`, req: request(PA_KIND, 'UPDATE', tightened, old) });
  }
  cases.push(
    { id: 'pa-create-workload-disable', title: `PA CREATE workload DISABLE (${w.namespace}/${w.app}${authz ? ', under an ALLOW on principals' : ''})`, req: request(PA_KIND, 'CREATE', paWorkload) },
    { id: 'deployment-create', title: 'Deployment CREATE (validate + mutate)', req: request({ group: 'apps', version: 'v1', kind: 'Deployment' }, 'CREATE', deployment) },
  );
  return cases;
}

function ruleIds(d: Decision): Set<string> {
  return new Set(d.violations.map((v) => v.rule));
}

/** The model behind a counter of the questions asked (for one probing call, not timed). */
function spy(mesh: MeshView): { view: MeshView; calls: string[] } {
  const calls: string[] = [];
  const view: MeshView = {
    rootNamespace: mesh.rootNamespace,
    destinationRuleFlows: (o, ns, name) => (calls.push('destinationRuleFlows'), mesh.destinationRuleFlows(o, ns, name)),
    peerAuthenticationEffect: (o, ns, name) => (calls.push('peerAuthenticationEffect'), mesh.peerAuthenticationEffect(o, ns, name)),
  };
  return { view, calls };
}

/** The request as a webhook sees it each time: objects newly parsed from the body (a model that
 * remembers its last answer for the same object may reuse it within one call, not across calls). */
function fresh(req: EngineRequest): EngineRequest {
  return { ...req, object: structuredClone(req.object), ...(req.oldObject !== undefined && { oldObject: structuredClone(req.oldObject) }) };
}

function measureAdmission(c: AdmissionCase, policy: Policy, mesh: MeshView): AdmissionResult {
  const base = { validate: true, mutate: true };
  // Plain variables, not literals: compiles whether or not EvaluateOptions has `mesh`.
  const withMesh = { validate: true, mutate: true, mesh };
  const probe = spy(mesh);
  const probeOptions = { validate: true, mutate: true, mesh: probe.view };
  const dWithout = evaluate(fresh(c.req), policy, base);
  const probeCpu0 = cpuUs();
  const t0 = performance.now();
  const dWith = evaluate(fresh(c.req), policy, probeOptions);
  const firstMs = performance.now() - t0;
  const probeCpuUs = cpuUs() - probeCpu0;
  const plain = ruleIds(dWithout);
  const meshRules = [...ruleIds(dWith)].filter((r) => !plain.has(r));
  const start = performance.now();
  // A request whose one call takes a good part of the budget is timed once: the probing call
  // itself (the counter around the model costs nothing next to it) against one call without.
  const slow = firstMs * 2 > ADMISSION_BUDGET_MS;
  const budgetEnd = start + ADMISSION_BUDGET_MS;
  for (let i = 0; i < WARMUP && !slow && performance.now() < start + ADMISSION_BUDGET_MS / 5; i++) {
    evaluate(fresh(c.req), policy, base);
    evaluate(fresh(c.req), policy, withMesh);
  }
  // Rounds, each call by call interleaved (alternating which goes first); each side's best round
  // counts, as in the HTTP slices: other work on a shared machine only ever slows a round down.
  // CPU time is summed over every call of each side (contention shows in wall time, not in it).
  const rounds: { a: number[]; b: number[] }[] = [];
  const cpuA = { total: 0 };
  const cpuB = { total: 0 };
  const perRound = Math.ceil(ADMISSIONS / ROUNDS);
  if (slow) {
    cpuB.total += probeCpuUs;
    const r = fresh(c.req);
    rounds.push({ a: [timeCpuUs(() => void evaluate(r, policy, base), cpuA)], b: [firstMs * 1000] });
  }
  for (let round = 0; round < ROUNDS && !slow && (round === 0 || performance.now() < budgetEnd); round++) {
    const a: number[] = [];
    const b: number[] = [];
    const roundEnd = performance.now() + (budgetEnd - performance.now()) / (ROUNDS - round);
    for (let i = 0; i < perRound && (i === 0 || performance.now() < roundEnd); i++) {
      const ra = fresh(c.req);
      const rb = fresh(c.req);
      if (i % 2) {
        a.push(timeCpuUs(() => void evaluate(ra, policy, base), cpuA));
        b.push(timeCpuUs(() => void evaluate(rb, policy, withMesh), cpuB));
      } else {
        b.push(timeCpuUs(() => void evaluate(rb, policy, withMesh), cpuB));
        a.push(timeCpuUs(() => void evaluate(ra, policy, base), cpuA));
      }
    }
    rounds.push({ a, b });
  }
  const best = (side: 'a' | 'b'): Percentiles => {
    const ps = rounds.map((r) => percentiles(r[side]));
    return { p50Us: Math.min(...ps.map((p) => p.p50Us)), p99Us: Math.min(...ps.map((p) => p.p99Us)), maxUs: Math.min(...ps.map((p) => p.maxUs)) };
  };
  const without = best('a');
  const withP = best('b');
  const calls = [...new Set(probe.calls)].map((n) => `${n} ×${probe.calls.filter((x) => x === n).length}`);
  const r: AdmissionResult = {
    id: c.id,
    title: c.title,
    iterations: rounds.reduce((n, x) => n + x.a.length, 0),
    rounds: rounds.length,
    firstCallMs: firstMs,
    without,
    with: withP,
    cpuMeanWithoutUs: cpuA.total / Math.max(1, rounds.reduce((n, x) => n + x.a.length, 0)),
    cpuMeanWithUs: cpuB.total / Math.max(1, rounds.reduce((n, x) => n + x.b.length, 0)),
    addedP50Us: withP.p50Us - without.p50Us,
    addedP99Us: withP.p99Us - without.p99Us,
    ratioP50: withP.p50Us / without.p50Us,
    ratioP99: withP.p99Us / without.p99Us,
    allowedWithout: dWithout.allowed,
    allowedWith: dWith.allowed,
    meshRules,
    modelCalls: calls,
    failuresWith: dWith.failures.filter((f) => !dWithout.failures.some((g) => g.rule === f.rule)).map((f) => `${f.rule}: ${f.error}`),
  };
  log(`${c.id}: ${r.iterations} calls each in ${r.rounds} rounds; without p50 ${without.p50Us.toFixed(1)} p99 ${without.p99Us.toFixed(1)} µs; with p50 ${withP.p50Us.toFixed(1)} p99 ${withP.p99Us.toFixed(1)} µs; model ${calls.join(', ') || 'not asked'}; rules ${meshRules.join(',') || '-'}${r.failuresWith.length ? `; FAILURES ${r.failuresWith.join('; ')}` : ''}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Full scan.

function measureScan(model: MeshModel): ScanResult {
  const timed = <T>(name: string, f: () => T[]): { value: T[]; ms: number; cpuMs: number } => {
    const c0 = cpuUs();
    const t0 = performance.now();
    const value = f();
    const r = { value, ms: performance.now() - t0, cpuMs: (cpuUs() - c0) / 1000 };
    log(`${name}: ${value.length} in ${r.ms.toFixed(0)} ms (CPU ${r.cpuMs.toFixed(0)} ms)`);
    return r;
  };
  const ports = timed('serverPorts()', () => model.serverPorts());
  const flows = timed('flows()', () => model.flows());
  const conflicts = timed('authorizationConflicts()', () => model.authorizationConflicts());
  const outcomes: Record<string, number> = {};
  for (const f of flows.value) outcomes[f.outcome] = (outcomes[f.outcome] ?? 0) + 1;
  return {
    serverPortsMs: ports.ms,
    flowsMs: flows.ms,
    authorizationConflictsMs: conflicts.ms,
    totalMs: ports.ms + flows.ms + conflicts.ms,
    cpuMs: { serverPorts: ports.cpuMs, flows: flows.cpuMs, authorizationConflicts: conflicts.cpuMs, total: ports.cpuMs + flows.cpuMs + conflicts.cpuMs },
    serverPorts: ports.value.length,
    flows: flows.value.length,
    outcomes,
    authorizationConflicts: conflicts.value.length,
  };
}

/** The snapshot as YAML, one folder per namespace and one file per kind: a GitOps repository's layout. */
function writeSnapshot(plan: MeshPlan, dir: string): { files: number; inputBytes: number } {
  const files = new Map<string, string[]>();
  for (const o of meshObjects(plan)) {
    const file = join(o.metadata.namespace ?? '_cluster', `${o.kind.toLowerCase()}s.yaml`);
    const docs = files.get(file) ?? [];
    // As kubectl and GitOps tools write manifests: no anchors and aliases.
    docs.push(stringify(o, { aliasDuplicateObjects: false }));
    files.set(file, docs);
  }
  let inputBytes = 0;
  for (const [file, docs] of files) {
    const path = join(dir, file);
    mkdirSync(join(path, '..'), { recursive: true });
    const text = docs.join('---\n');
    writeFileSync(path, text);
    inputBytes += Buffer.byteLength(text);
  }
  return { files: files.size, inputBytes };
}

function measureCli(plan: MeshPlan): CliScanResult {
  if (flags['no-cli']) return { status: 'skipped (--no-cli)' };
  if (!existsSync(join(ROOT, 'src/cli/scan.ts'))) return { status: 'not measured: src/cli/scan.ts does not exist yet' };
  if (!existsSync(join(ROOT, 'dist/cli/scan.js'))) return { status: 'not measured: dist/cli/scan.js not built (run with --build)' };
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-mesh-'));
  try {
    const { files, inputBytes } = writeSnapshot(plan, join(dir, 'mesh'));
    const outFile = join(dir, 'out.json');
    const out = openSync(outFile, 'w');
    const args = [join(ROOT, 'bin/mtls-guard.js'), 'scan', '-f', join(dir, 'mesh'), '-o', 'json'];
    log(`mtls-guard scan on ${files} files, ${(inputBytes / 1e6).toFixed(1)} MB (timeout ${CLI_TIMEOUT_S} s)`);
    const t0 = performance.now();
    const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', process.execPath, ...args], { cwd: ROOT, stdio: ['ignore', out, 'pipe'], timeout: CLI_TIMEOUT_S * 1000, killSignal: 'SIGKILL' });
    const wallMs = performance.now() - t0;
    closeSync(out);
    const stderr = r.stderr.toString();
    const timeLine = stderr.trim().split('\n').at(-1) ?? '';
    const [rssKiB, user, sys] = timeLine.split(' ').map(Number);
    if (r.signal) return { status: `timed out: killed after ${CLI_TIMEOUT_S} s`, command: 'mtls-guard scan -f DIR -o json', files, inputBytes, timedOutS: CLI_TIMEOUT_S };
    if (r.error) return { status: `not measured: ${String(r.error)}` };
    return {
      status: r.status !== null && r.status <= 1 ? 'ok' : `exit ${r.status}: ${stderr.slice(0, 300)}`,
      command: 'mtls-guard scan -f DIR -o json',
      files,
      inputBytes,
      wallMs,
      cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000,
      maxRssMiB: (rssKiB ?? 0) / 1024,
      exitCode: r.status,
      outputBytes: statSync(outFile).size,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

function table(r: MeshBenchResults): string {
  return meshMarkdown(r)
    .split('\n')
    .filter((l) => !l.startsWith('<!--'))
    .join('\n');
}

async function main(): Promise<void> {
  if (flags.emit) {
    const { files, inputBytes } = writeSnapshot(planMesh(SIZE), flags.emit);
    log(`wrote ${files} files, ${(inputBytes / 1e6).toFixed(1)} MB to ${flags.emit}`);
    return;
  }
  if (!process.env[INNER]) {
    if (flags.build) {
      log('npm run build');
      const b = spawnSync('nice', ['npm', 'run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
      if (b.status !== 0) log(`npm run build failed (measuring what is there): ${b.stderr.toString().slice(-300)}`);
    }
    process.exit(await runInner());
  }
  const code = await loadCode();
  const git = (args: string[]): string => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = git(['status', '--porcelain', '--', 'src/engine', 'src/mesh', 'src/util']) !== '';
  const tree = `${git(['rev-parse', '--short', 'HEAD'])}${dirty ? ' with uncommitted changes in src/engine, src/mesh or src/util' : ''}`;
  log(`measuring ${code}`);
  const startedAt = new Date().toISOString();
  const loadavgBefore = loadavg();
  const policy = defaultPolicy();
  const plan = planMesh(SIZE);
  const objects: Record<string, number> = {};
  for (const o of meshObjects(plan)) objects[o.kind] = (objects[o.kind] ?? 0) + 1;
  log(`snapshot: ${Object.entries(objects).map(([k, v]) => `${v} ${k}`).join(', ')}`);
  const status = modelStatus(policy);
  const result: MeshBenchResults = {
    startedAt,
    finishedAt: '',
    node: process.version,
    code,
    tree,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    loadavgBefore,
    loadavgAfter: [],
    quick: QUICK,
    size: SIZE,
    objects,
    modelStatus: status,
    incremental: [],
    admission: [],
    targets: [],
  };
  if (status === 'ok') {
    const { model, build } = measureBuild(plan, policy);
    result.build = build;
    log(`model: heap used +${build.heapUsedDeltaMiB.toFixed(1)} MiB, RSS +${build.rssDeltaMiB.toFixed(1)} MiB after GC`);
    result.incremental = measureIncremental(plan, model);
    for (const c of admissionCases(plan)) result.admission.push(measureAdmission(c, policy, model));
    result.scan = measureScan(model);
  } else {
    log(`model not measured: ${status}`);
  }
  result.cli = measureCli(plan);
  if (result.cli.status === 'ok') log(`mtls-guard scan: ${((result.cli.wallMs ?? 0) / 1000).toFixed(2)} s wall, RSS ${(result.cli.maxRssMiB ?? 0).toFixed(0)} MiB`);
  else log(`mtls-guard scan: ${result.cli.status}`);
  result.finishedAt = new Date().toISOString();
  result.loadavgAfter = loadavg();
  result.targets = meshTargets(result);
  process.stdout.write(`${table(result)}\n`);

  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (flags.out) writeFileSync(flags.out, json);
  else if (!QUICK) {
    writeFileSync(join(ROOT, 'bench/mesh-results.json'), json);
    replaceMeshSection(meshMarkdown(result));
    log('wrote bench/mesh-results.json and the bench:mesh section of BENCHMARKS.md');
  }
  if (status !== 'ok') process.exitCode = 2;
}

/** Like report.ts's replaceSection, without importing report.ts's dependencies into this process. */
function replaceMeshSection(md: string): void {
  const file = join(ROOT, 'BENCHMARKS.md');
  const current = readFileSync(file, 'utf8');
  const start = current.indexOf(MESH_BEGIN);
  const stop = current.indexOf(MESH_END);
  if (start < 0 || stop < start) throw new Error(`BENCHMARKS.md has no ${MESH_BEGIN} … ${MESH_END} block (the "Mesh model" section)`);
  writeFileSync(file, current.slice(0, start) + md + current.slice(stop + MESH_END.length));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:mesh: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
