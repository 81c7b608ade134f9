// The mesh slice's results (bench/mesh.ts), its targets and its generated section of
// BENCHMARKS.md. Shared with bench/run.ts and bench/report.ts, which add the mesh targets to the
// main run's table; no side effects on import.
import type { MeshSize } from './mesh-snapshot.js';

export interface Percentiles {
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

export interface BuildResult {
  /** Each build from the same manifests, in order (the first is cold: nothing compiled yet). */
  runsMs: number[];
  /** CPU time of each build (whole process: GC threads included). */
  cpuMs: number[];
  /** After the last build and two full GCs, against the same point before it. */
  heapUsedDeltaMiB: number;
  rssDeltaMiB: number;
  externalDeltaMiB: number;
}

export interface IncrementalResult {
  kind: 'DestinationRule' | 'PeerAuthentication' | 'Service';
  change: string;
  /** Applies timed (each object changed, then changed back). */
  samples: number;
  /** Questions timed after an apply (bounded by time). */
  querySamples: number;
  apply: Percentiles;
  /** The first mesh question after an apply (anything deferred to the next read shows here). */
  queryAfterApply: Percentiles;
  /** The same question with nothing changed in between. */
  queryStable: Percentiles;
}

export interface AdmissionResult {
  id: string;
  title: string;
  /** Calls per side, over all rounds. */
  iterations: number;
  rounds: number;
  /** The first call with the model (cold for this request), ms. */
  firstCallMs: number;
  /** `evaluate()` without `mesh`: the single-object engine; each percentile the best round's. */
  without: Percentiles;
  /** `evaluate()` with `mesh: model`. */
  with: Percentiles;
  /** Mean CPU µs per call (process CPU time summed over each side's calls): contention-proof. */
  cpuMeanWithoutUs: number;
  cpuMeanWithUs: number;
  addedP50Us: number;
  addedP99Us: number;
  /** with / without. */
  ratioP50: number;
  ratioP99: number;
  allowedWithout: boolean;
  allowedWith: boolean;
  /** Rule ids found with the model and not without it. */
  meshRules: string[];
  /** The model's questions one call with it asks, e.g. `peerAuthenticationEffect ×2`. */
  modelCalls: string[];
  /** Rule failures with the model (a model that throws shows here). */
  failuresWith: string[];
}

export interface ScanResult {
  serverPortsMs: number;
  flowsMs: number;
  authorizationConflictsMs: number;
  totalMs: number;
  /** CPU time of each and of the three (whole process). */
  cpuMs: { serverPorts: number; flows: number; authorizationConflicts: number; total: number };
  serverPorts: number;
  flows: number;
  outcomes: Record<string, number>;
  authorizationConflicts: number;
}

export interface CliScanResult {
  status: string;
  command?: string;
  files?: number;
  inputBytes?: number;
  wallMs?: number;
  cpuMs?: number;
  maxRssMiB?: number;
  exitCode?: number | null;
  outputBytes?: number;
  /** Set when the run was killed at the bench's timeout (s): the scan took longer. */
  timedOutS?: number;
}

export interface MeshTarget {
  target: string;
  measured: string;
  met: boolean | null;
}

export interface MeshBenchResults {
  startedAt: string;
  finishedAt: string;
  node: string;
  /** Which build of the engine and model was measured: dist/ (tsc) or src/ through tsx. */
  code: string;
  /** The commit measured (and whether src/ had uncommitted changes). */
  tree: string;
  cpus: number;
  cpuModel: string;
  loadavgBefore: number[];
  loadavgAfter: number[];
  quick: boolean;
  size: MeshSize;
  objects: Record<string, number>;
  /** 'ok', or why the model could not be measured (e.g. its methods still throw). */
  modelStatus: string;
  build?: BuildResult;
  incremental: IncrementalResult[];
  admission: AdmissionResult[];
  scan?: ScanResult;
  cli?: CliScanResult;
  targets: MeshTarget[];
}

export const MESH_BEGIN = '<!-- BEGIN GENERATED: npm run bench:mesh -->';
export const MESH_END = '<!-- END GENERATED: npm run bench:mesh -->';

const us = (v: number): string => (v >= 1000 ? Math.round(v).toLocaleString('en') : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const msf = (v: number): string => (v >= 100 ? Math.round(v).toLocaleString('en') : v.toFixed(1));
const signedUs = (v: number): string => `${v < 0 ? '−' : '+'}${us(Math.abs(v))}`;

/** The issue's targets against one run. */
export function meshTargets(r: Pick<MeshBenchResults, 'build' | 'incremental' | 'admission' | 'scan' | 'cli' | 'modelStatus'>): MeshTarget[] {
  const none = (target: string): MeshTarget => ({ target, measured: r.modelStatus === 'ok' ? 'not measured' : `not measured (${r.modelStatus})`, met: null });
  const out: MeshTarget[] = [];
  const measured = r.admission.filter((a) => a.failuresWith.length === 0);
  const asked = measured.filter((a) => a.modelCalls.length > 0);
  if (r.modelStatus !== 'ok' || !measured.length) out.push(none('mesh rules add ≤ 1 ms p99 per admission'));
  else if (!asked.length) out.push({ target: 'mesh rules add ≤ 1 ms p99 per admission', measured: 'not measured: `evaluate()` never asked the model (the mesh rules are not wired in yet)', met: null });
  else {
    const worst = measured.reduce((a, b) => (b.addedP99Us > a.addedP99Us ? b : a));
    const over = measured.filter((a) => a.addedP99Us > 1000).length;
    out.push({ target: 'mesh rules add ≤ 1 ms p99 per admission', measured: `worst ${signedUs(worst.addedP99Us)} µs (${worst.id}); ${over} of ${measured.length} requests over`, met: worst.addedP99Us <= 1000 });
  }
  if (r.build) out.push({ target: 'model memory ≤ 200 MiB (heap used after GC)', measured: `${r.build.heapUsedDeltaMiB.toFixed(1)} MiB (RSS +${r.build.rssDeltaMiB.toFixed(1)})`, met: r.build.heapUsedDeltaMiB <= 200 });
  else out.push(none('model memory ≤ 200 MiB (heap used after GC)'));
  if (r.scan) {
    const cliMs = r.cli?.status === 'ok' ? r.cli.wallMs : r.cli?.timedOutS !== undefined ? r.cli.timedOutS * 1000 : undefined;
    const cliText = r.cli?.status === 'ok' ? `, ${((cliMs ?? 0) / 1000).toFixed(2)} s \`mtls-guard scan\`` : r.cli?.timedOutS !== undefined ? `, \`mtls-guard scan\` over ${r.cli.timedOutS} s (killed)` : '';
    const worst = Math.max(r.scan.totalMs, cliMs ?? 0);
    out.push({ target: 'full scan ≤ 10 s', measured: `${(r.scan.totalMs / 1000).toFixed(2)} s in process (CPU ${(r.scan.cpuMs.total / 1000).toFixed(2)} s)${cliText}`, met: worst <= 10_000 });
  } else out.push(none('full scan ≤ 10 s'));
  if (r.build && r.incremental.length) {
    const build = Math.min(...r.build.runsMs);
    const worst = r.incremental.reduce((a, b) => (b.apply.p50Us > a.apply.p50Us ? b : a));
    const worstQuery = r.incremental.reduce((a, b) => (b.queryAfterApply.p50Us - b.queryStable.p50Us > a.queryAfterApply.p50Us - a.queryStable.p50Us ? b : a));
    // A rebuild would make every apply cost about a build (so the median too; a tail can be a GC
    // pause or the scheduler); an index update costs a small fraction of one. Work deferred to the
    // next question would show as a first question much slower than a repeated one.
    const applyOk = worst.apply.p50Us <= (build * 1000) / 100;
    const queryOk = worstQuery.queryAfterApply.p50Us <= Math.max(10 * worstQuery.queryStable.p50Us, 1000);
    out.push({
      target: 'incremental update without rebuild',
      measured: `apply p50 ${us(worst.apply.p50Us)} µs, p99 ${us(worst.apply.p99Us)} µs (${worst.kind}) vs build ${msf(build)} ms; first question after apply p50 ${us(worstQuery.queryAfterApply.p50Us)} µs vs ${us(worstQuery.queryStable.p50Us)} µs unchanged (${worstQuery.kind})`,
      met: applyOk && queryOk,
    });
  } else out.push(none('incremental update without rebuild'));
  return out;
}

const metCell = (m: boolean | null): string => (m === null ? '–' : m ? 'yes' : '**no**');

export function meshMarkdown(r: MeshBenchResults): string {
  const objects = Object.entries(r.objects)
    .map(([k, v]) => `${v.toLocaleString('en')} ${k}`)
    .join(', ');
  const lines: string[] = [
    MESH_BEGIN,
    `Run ${r.startedAt} → ${r.finishedAt}${r.quick ? ' (**quick**: fewer samples)' : ''}, engine and model of ${r.tree} from ${r.code}, Node ${r.node}, ${r.cpus} CPUs (${r.cpuModel}), load average ${r.loadavgBefore.map((x) => x.toFixed(2)).join(' ')} before and ${r.loadavgAfter.map((x) => x.toFixed(2)).join(' ')} after; ` +
      `every figure below from this one process and run, so the ratios compare like with like. Snapshot (seed ${r.size.seed}): ${objects}, over ${r.size.namespaces} namespaces + istio-system.`,
    '',
  ];
  if (r.modelStatus !== 'ok') lines.push(`**The mesh model could not be measured: ${r.modelStatus}.**`, '');
  lines.push('### Targets', '', '| target | measured | met |', '|---|--:|:-:|', ...r.targets.map((t) => `| ${t.target} | ${t.measured} | ${metCell(t.met)} |`), '');
  if (r.build) {
    lines.push(
      '### Build and memory',
      '',
      '| builds, wall ms (first cold) | builds, CPU ms | heap used after GC | RSS after GC | external |',
      '|--:|--:|--:|--:|--:|',
      `| ${r.build.runsMs.map(msf).join(' / ')} | ${r.build.cpuMs.map(msf).join(' / ')} | +${r.build.heapUsedDeltaMiB.toFixed(1)} MiB | +${r.build.rssDeltaMiB.toFixed(1)} MiB | +${r.build.externalDeltaMiB.toFixed(1)} MiB |`,
      '',
    );
  }
  if (r.incremental.length) {
    lines.push(
      '### Incremental update (`model.apply` of one changed object)',
      '',
      '| object | change | applies | apply p50 µs | apply p99 µs | apply max µs | questions | first question after p50 / p99 µs | same question, unchanged p50 / p99 µs |',
      '|---|---|--:|--:|--:|--:|--:|--:|--:|',
      ...r.incremental.map((i) => `| ${i.kind} | ${i.change} | ${i.samples} | ${us(i.apply.p50Us)} | ${us(i.apply.p99Us)} | ${us(i.apply.maxUs)} | ${i.querySamples} | ${us(i.queryAfterApply.p50Us)} / ${us(i.queryAfterApply.p99Us)} | ${us(i.queryStable.p50Us)} / ${us(i.queryStable.p99Us)} |`),
      '',
    );
  }
  if (r.admission.length) {
    lines.push(
      '### Added cost per admission (`evaluate()` with and without `mesh`, interleaved)',
      '',
      '| request | calls each (rounds) | without p50 / p99 µs | with mesh p50 / p99 µs | added p50 µs | added p99 µs | ratio p50 / p99 | CPU µs per call, without → with | model asked (one call) | mesh rules found | allowed without → with |',
      '|---|--:|--:|--:|--:|--:|--:|--:|---|---|---|',
      ...r.admission.map(
        (a) =>
          `| ${a.title} | ${a.iterations.toLocaleString('en')} (${a.rounds}) | ${us(a.without.p50Us)} / ${us(a.without.p99Us)} | ${us(a.with.p50Us)} / ${us(a.with.p99Us)} | ${signedUs(a.addedP50Us)} | ${signedUs(a.addedP99Us)} | ${a.ratioP50.toFixed(1)}× / ${a.ratioP99.toFixed(1)}× | ${us(a.cpuMeanWithoutUs)} → ${us(a.cpuMeanWithUs)} | ${a.modelCalls.join(', ') || '–'} | ${a.failuresWith.length ? `**failed**: ${a.failuresWith.join('; ').slice(0, 120)}` : a.meshRules.join(', ') || '–'} | ${a.allowedWithout} → ${a.allowedWith} |`,
      ),
      '',
    );
  }
  if (r.scan) {
    const outcomes = Object.entries(r.scan.outcomes)
      .map(([k, v]) => `${k} ${v.toLocaleString('en')}`)
      .join(', ');
    lines.push(
      '### Full scan (the whole snapshot)',
      '',
      '| question | wall ms | CPU ms | answers |',
      '|---|--:|--:|--:|',
      `| \`serverPorts()\` | ${msf(r.scan.serverPortsMs)} | ${msf(r.scan.cpuMs.serverPorts)} | ${r.scan.serverPorts.toLocaleString('en')} |`,
      `| \`flows()\` | ${msf(r.scan.flowsMs)} | ${msf(r.scan.cpuMs.flows)} | ${r.scan.flows.toLocaleString('en')} (${outcomes}) |`,
      `| \`authorizationConflicts()\` | ${msf(r.scan.authorizationConflictsMs)} | ${msf(r.scan.cpuMs.authorizationConflicts)} | ${r.scan.authorizationConflicts.toLocaleString('en')} |`,
      `| **total** | **${msf(r.scan.totalMs)}** | **${msf(r.scan.cpuMs.total)}** | |`,
      '',
    );
  }
  if (r.cli) {
    lines.push(
      r.cli.status === 'ok'
        ? `\`${r.cli.command ?? 'mtls-guard scan'}\` on the snapshot written as ${r.cli.files} YAML files (${((r.cli.inputBytes ?? 0) / 1e6).toFixed(1)} MB): ${((r.cli.wallMs ?? 0) / 1000).toFixed(2)} s wall, ${((r.cli.cpuMs ?? 0) / 1000).toFixed(2)} s CPU, peak RSS ${(r.cli.maxRssMiB ?? 0).toFixed(0)} MiB, exit ${r.cli.exitCode}, ${((r.cli.outputBytes ?? 0) / 1e6).toFixed(1)} MB of JSON.`
        : `\`mtls-guard scan\` CLI: ${r.cli.status}.`,
      '',
    );
  }
  lines.push(MESH_END);
  return lines.join('\n');
}
