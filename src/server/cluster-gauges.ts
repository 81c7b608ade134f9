// The mesh gauges, computed from the model as a whole (every server port, every flow). On a
// large mesh that takes seconds of CPU (BENCHMARKS.md, bench:mesh), so cluster-state.ts runs it
// off the request path, only after a change, and at most every 10 s (longer when it was slow).
// When it also writes PolicyReports it builds the scan once and takes the gauges from it
// (scanGauges: the same numbers as meshGauges).
//
// Computed in slices (refreshSteps, runInSlices): on the 10k-Service mesh the whole computation
// is seconds of CPU, and every admission would wait behind it (the webhook's 5 s timeout with
// failurePolicy Fail: refused). A slice runs for at most a small budget, then the event loop
// answers what is waiting (setImmediate) before the next slice.
import { performance } from 'node:perf_hooks';
import type { AuthorizationConflict, Flow, MeshModel, ServerPort } from '../mesh/index.js';
import { policyReportSteps, type PolicyReport } from '../reports/policy-report.js';
import { acceptsOf, scanSteps, type MeshScan } from '../reports/scan-report.js';
import { contentHashSteps } from './cluster-reports.js';
import type { Metrics } from './metrics.js';

export interface MeshGauges {
  /** Plaintext-accepting workload ports per namespace (0 for namespaces with workloads and none). */
  plaintextPorts: Map<string, number>;
  conflicts: { 'destinationrule-strict-conflict': number; 'peerauthentication-authz-conflict': number };
}

type GaugeSource = Pick<MeshModel, 'serverPorts' | 'flows' | 'authorizationConflicts'>;

export function meshGauges(model: GaugeSource): MeshGauges {
  return answerGauges({ serverPorts: model.serverPorts(), flows: model.flows(), conflicts: model.authorizationConflicts() });
}

/** meshGauges from the model's answers (MeshModel.scanSteps' value). */
function answerGauges(answers: { serverPorts: readonly ServerPort[]; flows: readonly Flow[]; conflicts: readonly AuthorizationConflict[] }): MeshGauges {
  return gaugesOf(answers.serverPorts, answers.flows.filter((f) => f.outcome === 'broken').length, answers.conflicts.length);
}

/** The same gauges as meshGauges, from a scan of the model (scanOf) instead of the model. */
export function scanGauges(scan: MeshScan): MeshGauges {
  return gaugesOf(
    scan.rows.map((row) => row.server),
    scan.broken.length,
    scan.conflicts.length,
  );
}

/** Plaintext-accepting ports per namespace as `scan` judges them (acceptsOf: without a sidecar
 * or ztunnel nothing enforces the mode), and the two conflict counts. */
function gaugesOf(serverPorts: readonly ServerPort[], broken: number, conflicts: number): MeshGauges {
  const plaintextPorts = new Map<string, number>();
  for (const p of serverPorts) {
    const ns = p.workload.namespace;
    plaintextPorts.set(ns, (plaintextPorts.get(ns) ?? 0) + (acceptsOf(p) === 'mtls' ? 0 : 1));
  }
  return { plaintextPorts, conflicts: { 'destinationrule-strict-conflict': broken, 'peerauthentication-authz-conflict': conflicts } };
}

export function setMeshGauges(metrics: Metrics, gauges: MeshGauges): void {
  metrics.meshPlaintextPorts.reset();
  for (const [namespace, n] of gauges.plaintextPorts) metrics.meshPlaintextPorts.set({ namespace }, n);
  for (const [rule, n] of Object.entries(gauges.conflicts)) metrics.meshConflicts.set({ rule }, n);
}

/** What one refresh computed: the gauges, and the PolicyReports with their content hashes when asked for. */
export interface Refresh {
  gauges: MeshGauges;
  reports?: { report: PolicyReport; hash: string }[];
}

/**
 * The gauges (and, with `now`, the PolicyReports and their hashes) in small steps: the model's
 * walk, the scan, the reports, then each report's hash a result at a time. The model may change
 * between steps (informer events): the answer then mixes both meshes; the caller computes again.
 * @param now the time the reports' results carry; without it no reports are built.
 */
export function* refreshSteps(model: Pick<MeshModel, 'scanSteps' | 'rootNamespace'>, now?: () => Date): Generator<void, Refresh> {
  if (!now) return { gauges: answerGauges(yield* model.scanSteps()) };
  const scan = yield* scanSteps(model);
  const gauges = scanGauges(scan);
  yield;
  const built = yield* policyReportSteps(scan, now());
  const reports: { report: PolicyReport; hash: string }[] = [];
  for (const report of built) reports.push({ report, hash: yield* contentHashSteps(report) });
  return { gauges, reports };
}

/** What runInSlices measured. */
export interface SlicedRun<T> {
  value: T;
  /** Time spent inside slices (ms): the event loop was busy with this computation for that long. */
  busyMs: number;
  /** From the first slice's start to the last one's end (ms), admissions answered in between. */
  wallMs: number;
  slices: number;
  /** The longest slice (ms): how long an admission waited behind this computation at most. */
  longestMs: number;
}

/**
 * Runs `steps` to its end a slice at a time: steps are taken until `budgetMs` has passed, then
 * the event loop runs what is waiting (setImmediate) before the next slice. Resolves undefined,
 * having closed the generator, when `stopped()` says so between slices (a server closing).
 * Rejects with what a step throws. A single step longer than the budget makes a longer slice.
 * @param between awaited after each slice but the last (tests: to act while a run is under way).
 */
export async function runInSlices<T>(
  steps: Generator<unknown, T>,
  budgetMs: number,
  stopped: () => boolean = () => false,
  between?: (slice: number) => Promise<void> | void,
): Promise<SlicedRun<T> | undefined> {
  const first = performance.now();
  let busyMs = 0;
  let slices = 0;
  let longestMs = 0;
  for (;;) {
    if (stopped()) {
      steps.return(undefined as T);
      return undefined;
    }
    const start = performance.now();
    let now = start;
    let next = steps.next();
    while (!next.done && (now = performance.now()) - start < budgetMs) next = steps.next();
    if (next.done) now = performance.now();
    const ms = now - start;
    busyMs += ms;
    slices++;
    longestMs = Math.max(longestMs, ms);
    if (next.done) return { value: next.value, busyMs, wallMs: now - first, slices, longestMs };
    await new Promise<void>((resolve) => setImmediate(resolve));
    await between?.(slices);
  }
}
