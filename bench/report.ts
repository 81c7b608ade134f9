// Turns one benchmark run into bench/results.json, bench/latency.svg (hand-written SVG, no
// chart library) and the generated section of BENCHMARKS.md, with the issue's targets checked.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult } from './load.js';
import { clusterMarkdown, type ClusterModeResults } from './apiserver-report.js';
import type { MeshTarget } from './mesh-report.js';
import { ROOT } from './processes.js';

export type TargetId = 'baseline' | 'mtls-guard-validate' | 'mtls-guard-mutate' | 'opa';

export interface Measurement extends LoadResult {
  target: TargetId;
  payload: string;
  /** Fixed rate in req/s, null at saturation. */
  rate: number | null;
  rssMaxBytes: number;
  rssLastBytes: number;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  node: string;
  cpus: string;
  durationSeconds: number;
  rounds: number;
  connections: number;
  opaVersion: string | null;
  payloads: { id: string; title: string; bytes: number }[];
  idleRssBytes: Record<string, number>;
  measurements: Measurement[];
  /** The mesh model slice's targets (bench/mesh.ts; details in its own section), when it ran. */
  meshTargets?: MeshTarget[];
}

export type ConfigId = 'none' | 'floor' | 'vap' | 'mtls-guard';

export interface ConfigResult {
  id: ConfigId;
  requests: number;
  /** Answers other than 201 Created. */
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** The median of each interleaved round, to show the spread between rounds. */
  roundP50Ms: number[];
}

/** What the pod form of bench:apiserver ran on (bench/apiserver-pod.ts). */
export interface PodSetUp {
  /** The image built from ./Dockerfile, as imported into containerd. */
  image: string;
  /** `node --version` inside the image. */
  node: string;
  /** The kubelet's and containerd's versions, as the node reports them. */
  kubelet: string;
  containerRuntime: string;
  /** Resources of each webhook pod (the chart's defaults, given to the floor pod too). */
  resources: string;
}

/** bench/apiserver.ts: server-side dry-run creates through kube-apiserver, per admission set-up. */
export interface ApiServerResults {
  startedAt: string;
  finishedAt: string;
  node: string;
  cpus: string;
  apiserver: string;
  /** Where (b) and (d) ran: local processes (bench/apiserver.ts; absent in results written before
   * the pod form existed) or pods on the node suite's kubelet node (bench/apiserver-pod.ts). */
  webhookIn?: 'process' | 'pod';
  /** The pod form only: the node and image the webhooks ran on. */
  pods?: PodSetUp;
  requestsPerConfig: number;
  rounds: number;
  loadavgBefore: number[];
  loadavgAfter: number[];
  configs: ConfigResult[];
  /** Mean of mtls-guard's own mtls_guard_admission_duration_seconds over the measured requests. */
  guardMeanDecisionMs: number | null;
  guardDecisions: number;
  /** Cluster mode on the generated large mesh (absent with --skip-cluster). */
  cluster?: ClusterModeResults;
}

const BEGIN = '<!-- BEGIN GENERATED: npm run bench -->';
const END = '<!-- END GENERATED: npm run bench -->';
const LABEL: Record<TargetId, string> = { baseline: 'baseline', 'mtls-guard-validate': 'mtls-guard /validate', 'mtls-guard-mutate': 'mtls-guard /mutate', opa: 'OPA' };

const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);
const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const ratio = (a: number | undefined, b: number | undefined): string => (a && b ? `${(a / b).toFixed(2)}×` : '–');

function find(r: BenchResults, target: TargetId, payload: string, rate: number | null): Measurement | undefined {
  return r.measurements.find((m) => m.target === target && m.payload === payload && m.rate === rate);
}

function failures(m: Measurement): number {
  return m.errors + m.non2xx;
}

interface Check {
  target: string;
  measured: string;
  met: boolean | null;
}

export function checkTargets(r: BenchResults): Check[] {
  const checks: Check[] = [];
  const rps = (t: TargetId, p: string): number | undefined => find(r, t, p, null)?.rps;
  const push = (target: string, value: number | undefined, limit: number, fmt: (v: number) => string, atLeast: boolean): void => {
    checks.push({ target, measured: value === undefined ? 'not measured' : fmt(value), met: value === undefined ? null : atLeast ? value >= limit : value <= limit });
  };
  const rel = (a: number | undefined, b: number | undefined): number | undefined => (a && b ? a / b : undefined);
  push('validate ≥ 0.75× baseline (PeerAuthentication deny)', rel(rps('mtls-guard-validate', 'pa-deny'), rps('baseline', 'pa-deny')), 0.75, (v) => `${v.toFixed(2)}×`, true);
  push('validate ≥ 0.75× baseline (Deployment 10 KB)', rel(rps('mtls-guard-validate', 'deploy-10k'), rps('baseline', 'deploy-10k')), 0.75, (v) => `${v.toFixed(2)}×`, true);
  push('mutate ≥ 0.6× baseline (Deployment 10 KB)', rel(rps('mtls-guard-mutate', 'deploy-10k'), rps('baseline', 'deploy-10k')), 0.6, (v) => `${v.toFixed(2)}×`, true);
  push('mutate ≥ 0.6× baseline (UPDATE 1 MiB)', rel(rps('mtls-guard-mutate', 'update-1mib'), rps('baseline', 'update-1mib')), 0.6, (v) => `${v.toFixed(2)}×`, true);
  if (r.opaVersion) {
    push('validate ≥ 1.0× OPA (PeerAuthentication deny)', rel(rps('mtls-guard-validate', 'pa-deny'), rps('opa', 'pa-deny')), 1, (v) => `${v.toFixed(2)}×`, true);
    push('validate ≥ 1.0× OPA (Deployment 10 KB)', rel(rps('mtls-guard-validate', 'deploy-10k'), rps('opa', 'deploy-10k')), 1, (v) => `${v.toFixed(2)}×`, true);
    push('mutate ≥ 1.0× OPA validate (UPDATE 1 MiB)', rel(rps('mtls-guard-mutate', 'update-1mib'), rps('opa', 'update-1mib')), 1, (v) => `${v.toFixed(2)}×`, true);
  }
  push('p99 ≤ 5 ms at 1000 req/s, /validate PeerAuthentication', find(r, 'mtls-guard-validate', 'pa-deny', 1000)?.latencyMs.p99, 5, (v) => `${ms(v)} ms`, false);
  push('p99 ≤ 5 ms at 1000 req/s, /mutate Deployment', find(r, 'mtls-guard-mutate', 'deploy-10k', 1000)?.latencyMs.p99, 5, (v) => `${ms(v)} ms`, false);
  push('RSS ≤ 150 MiB serving 6 MiB reviews (4 concurrent)', find(r, 'mtls-guard-mutate', 'update-6mib', null)?.rssMaxBytes, 150 * 1024 * 1024, (v) => `${mib(v)} MiB`, false);
  const guardRuns = r.measurements.filter((m) => m.target.startsWith('mtls-guard'));
  const guardFailures = guardRuns.reduce((n, m) => n + failures(m), 0);
  const guardRequests = guardRuns.reduce((n, m) => n + m.requests, 0);
  checks.push({ target: 'zero errors (mtls-guard, every run)', measured: `${guardFailures} of ${guardRequests.toLocaleString('en')}`, met: guardFailures === 0 });
  for (const t of r.meshTargets ?? []) checks.push({ target: `mesh model: ${t.target} ([details](#mesh-model))`, measured: t.measured, met: t.met });
  return checks;
}

function saturationTable(r: BenchResults): string {
  const rows = ['| payload | target | req/s | p50 ms | p99 ms | max ms | errors | RSS max MiB | ×baseline | ×OPA |', '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|'];
  for (const p of r.payloads.filter((x) => x.id !== 'update-6mib')) {
    const base = find(r, 'baseline', p.id, null);
    const opa = find(r, 'opa', p.id, null);
    for (const m of r.measurements.filter((x) => x.payload === p.id && x.rate === null)) {
      const vsBase = m.target === 'baseline' ? '' : ratio(m.rps, base?.rps);
      const vsOpa = m.target.startsWith('mtls-guard') ? ratio(m.rps, opa?.rps) : '';
      rows.push(`| ${p.id} | ${LABEL[m.target]} | ${Math.round(m.rps).toLocaleString('en')} | ${ms(m.latencyMs.p50)} | ${ms(m.latencyMs.p99)} | ${ms(m.latencyMs.max)} | ${failures(m)} | ${mib(m.rssMaxBytes)} | ${vsBase} | ${vsOpa} |`);
    }
  }
  return rows.join('\n');
}

function rateTable(r: BenchResults): string {
  const rows = ['| payload | rate | target | achieved req/s | p50 ms | p90 ms | p99 ms | max ms | errors | RSS max MiB |', '|---|--:|---|--:|--:|--:|--:|--:|--:|--:|'];
  for (const m of r.measurements.filter((x) => x.rate !== null)) {
    rows.push(`| ${m.payload} | ${m.rate} | ${LABEL[m.target]} | ${m.rps} | ${ms(m.latencyMs.p50)} | ${ms(m.latencyMs.p90)} | ${ms(m.latencyMs.p99)} | ${ms(m.latencyMs.max)} | ${failures(m)} | ${mib(m.rssMaxBytes)} |`);
  }
  return rows.join('\n');
}

function hugeTable(r: BenchResults): string {
  const rows = ['| target | req/s | p50 ms | p99 ms | errors | RSS idle MiB | RSS max MiB |', '|---|--:|--:|--:|--:|--:|--:|'];
  for (const m of r.measurements.filter((x) => x.payload === 'update-6mib')) {
    const idle = r.idleRssBytes[m.target.startsWith('mtls-guard') ? 'mtls-guard' : m.target] ?? 0;
    rows.push(`| ${LABEL[m.target]} | ${m.rps} | ${ms(m.latencyMs.p50)} | ${ms(m.latencyMs.p99)} | ${failures(m)} | ${mib(idle)} | ${mib(m.rssMaxBytes)} |`);
  }
  return rows.join('\n');
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Bar {
  label: string;
  latencyMs: { p50: number; p90: number; p99: number };
}

const CONFIG_LABEL: Record<ConfigId, string> = { none: '(a) no admission', floor: '(b) floor webhook (bare server)', vap: '(c) ValidatingAdmissionPolicy', 'mtls-guard': '(d) mtls-guard webhook' };

/**
 * One panel per scenario, one group of p50/p90/p99 bars per target, each panel on its own scale;
 * with `api`, a last panel for the creates through the API server.
 */
export function latencySvg(r: BenchResults, api?: ApiServerResults): string {
  const panels: { title: string; rows: Bar[] }[] = [];
  const bars = (ms: Measurement[]): Bar[] => ms.map((m) => ({ label: LABEL[m.target], latencyMs: m.latencyMs }));
  for (const p of r.payloads.filter((x) => x.id !== 'update-6mib')) {
    panels.push({ title: `${p.title} (${(p.bytes / 1024).toFixed(0)} KiB), saturation, ${r.connections} connections`, rows: bars(r.measurements.filter((m) => m.payload === p.id && m.rate === null)) });
    const at1000 = r.measurements.filter((m) => m.payload === p.id && m.rate === 1000);
    if (at1000.length) panels.push({ title: `${p.title}, fixed 1000 req/s`, rows: bars(at1000) });
  }
  if (api) {
    panels.push({
      title: `Through kube-apiserver: dry-run create of an allowed PeerAuthentication, one at a time (${api.startedAt.slice(0, 16).replace('T', ' ')} UTC)`,
      rows: api.configs.map((c) => ({ label: CONFIG_LABEL[c.id], latencyMs: c.latencyMs })),
    });
  }
  const width = 900;
  const labelW = 190;
  const barH = 9;
  const plotW = width - labelW - 90;
  const colors = { p50: '#4c78a8', p90: '#f2a541', p99: '#d1495b' } as const;
  const parts: string[] = [];
  let y = 68;
  for (const panel of panels) {
    const max = Math.max(...panel.rows.map((m) => m.latencyMs.p99), 0.001);
    parts.push(`<text x="10" y="${y}" class="t">${escapeXml(panel.title)}</text>`);
    y += 10;
    for (const m of panel.rows) {
      parts.push(`<text x="${labelW - 8}" y="${y + barH * 1.5 + 4}" class="l" text-anchor="end">${escapeXml(m.label)}</text>`);
      for (const q of ['p50', 'p90', 'p99'] as const) {
        const v = m.latencyMs[q];
        const w = Math.max(1, (v / max) * plotW);
        parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 1}" fill="${colors[q]}"/>`);
        parts.push(`<text x="${labelW + w + 4}" y="${y + barH - 1}" class="v">${ms(v)} ms</text>`);
        y += barH;
      }
      y += 6;
    }
    y += 22;
  }
  const legend = (['p50', 'p90', 'p99'] as const).map((q, i) => `<rect x="${10 + i * 70}" y="32" width="10" height="10" fill="${colors[q]}"/><text x="${10 + i * 70 + 14}" y="41" class="l">${q}</text>`).join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="Helvetica, Arial, sans-serif">`,
    '<style>.t{font-size:13px;font-weight:bold;fill:#222}.l{font-size:12px;fill:#222}.v{font-size:10px;fill:#444}</style>',
    `<rect width="${width}" height="${y}" fill="#fff"/>`,
    `<text x="10" y="23" class="l">Latency per target (ms, each panel its own scale) - ${escapeXml(r.startedAt.slice(0, 16).replace('T', ' '))} UTC, ${escapeXml(r.node)}, ${escapeXml(r.cpus)} CPUs</text>`,
    legend,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

export function markdown(r: BenchResults): string {
  const checks = checkTargets(r);
  const sizes = r.payloads.map((p) => `\`${p.id}\` ${p.title}, ${p.bytes.toLocaleString('en')} bytes`).join('; ');
  return [
    BEGIN,
    `Run ${r.startedAt} → ${r.finishedAt}, Node ${r.node}, ${r.cpus} CPUs, ${r.connections} keep-alive HTTPS connections, ${r.durationSeconds} s per slice, best of ${r.rounds} alternating rounds at saturation` +
      `${r.opaVersion ? `, OPA ${r.opaVersion}` : ', OPA not measured'}. Payloads: ${sizes}.`,
    '',
    '### Targets',
    '',
    '| target | measured | met |',
    '|---|--:|:-:|',
    ...checks.map((c) => `| ${c.target} | ${c.measured} | ${c.met === null ? '–' : c.met ? 'yes' : '**no**'} |`),
    '',
    '### Saturation',
    '',
    saturationTable(r),
    '',
    '### Fixed rates (paced open loop)',
    '',
    rateTable(r),
    '',
    '### Memory with 6 MiB reviews (4 concurrent, saturation)',
    '',
    hugeTable(r),
    '',
    '![latency per target](bench/latency.svg)',
    END,
  ].join('\n');
}

const RESULTS = join(ROOT, 'bench/results.json');
const API_RESULTS = join(ROOT, 'bench/apiserver-results.json');

function readJson<T>(file: string): T | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}

/** Replaces the text between `begin` and `end` in BENCHMARKS.md (appends the block if absent). */
export function replaceSection(begin: string, end: string, md: string): void {
  const file = join(ROOT, 'BENCHMARKS.md');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = current.indexOf(begin);
  const stop = current.indexOf(end);
  const next = start >= 0 && stop > start ? current.slice(0, start) + md + current.slice(stop + end.length) : `${current.trimEnd()}\n\n${md}\n`;
  writeFileSync(file, next);
}

export function writeReport(r: BenchResults, options: { quick: boolean }): void {
  const md = markdown(r);
  if (options.quick) {
    writeFileSync(join(ROOT, 'bench/results.quick.json'), `${JSON.stringify(r, null, 2)}\n`);
    process.stdout.write(`${md}\n`);
    return;
  }
  writeFileSync(RESULTS, `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(ROOT, 'bench/latency.svg'), latencySvg(r, readJson<ApiServerResults>(API_RESULTS)));
  replaceSection(BEGIN, END, md);
  process.stdout.write(`${md}\n`);
}

const API_BEGIN = '<!-- BEGIN GENERATED: npm run bench:apiserver -->';
const API_END = '<!-- END GENERATED: npm run bench:apiserver -->';
const POD_BEGIN = '<!-- BEGIN GENERATED: npm run bench:apiserver:pod -->';
const POD_END = '<!-- END GENERATED: npm run bench:apiserver:pod -->';
const POD_RESULTS = join(ROOT, 'bench/apiserver-pod-results.json');

export function apiServerMarkdown(a: ApiServerResults): string {
  const by = (id: ConfigId): ConfigResult | undefined => a.configs.find((c) => c.id === id);
  const none = by('none');
  const floor = by('floor');
  const vap = by('vap');
  const guard = by('mtls-guard');
  const diff = (x: number | undefined, y: number | undefined): string => (x === undefined || y === undefined ? '–' : `${x - y >= 0 ? '+' : '−'}${ms(Math.abs(x - y))} ms`);
  const versus = (c: ConfigResult, base: ConfigResult | undefined): string => (c.id === base?.id || !base ? ' | ' : `${diff(c.latencyMs.p50, base.latencyMs.p50)} | ${diff(c.latencyMs.p99, base.latencyMs.p99)}`);
  const rows = a.configs.map(
    (c) =>
      `| ${CONFIG_LABEL[c.id]} | ${c.requests} | ${ms(c.latencyMs.p50)} | ${ms(c.latencyMs.p90)} | ${ms(c.latencyMs.p99)} | ${ms(c.latencyMs.max)} | ${c.roundP50Ms.map(ms).join(' / ')} | ${versus(c, none)} | ${c.id === 'none' ? ' | ' : versus(c, floor)} | ${c.errors} |`,
  );
  const added = guard && vap ? guard.latencyMs.p50 - vap.latencyMs.p50 : undefined;
  const inPods = a.webhookIn === 'pod';
  const where = a.pods
    ? `${a.apiserver} with etcd on 127.0.0.1 and one kubelet node (the node suite's harness, scripts/e2e-node.sh: kubelet ${a.pods.kubelet}, ${a.pods.containerRuntime}, CNI bridge); (b) and (d) run as one pod each from the image built from ./Dockerfile (${a.pods.image}, Node ${a.pods.node}; ${a.pods.resources}), registered with clientConfig.service and called by the API server straight at the pod IP (aggregator routing, not kube-proxy's Service rules)`
    : `${a.apiserver} with etcd on 127.0.0.1 (the e2e harness); (b) and (d) are local processes registered with clientConfig.url https://127.0.0.1:PORT`;
  return [
    inPods ? POD_BEGIN : API_BEGIN,
    `Run ${a.startedAt} → ${a.finishedAt}, ${where}, Node ${a.node} on the host, ${a.cpus} CPUs, load average ${a.loadavgBefore.join(' ')} before and ${a.loadavgAfter.join(' ')} after the first part (1, 5, 15 min; the machine is shared). ` +
      `${a.requestsPerConfig} server-side dry-run creates (\`?dryRun=All\`) of an allowed PeerAuthentication (mtls STRICT) per configuration, one at a time over one keep-alive connection, in ${a.rounds} interleaved rounds (rotating order).`,
    '',
    '| configuration | creates | p50 ms | p90 ms | p99 ms | max ms | p50 per round ms | added p50 vs (a) | added p99 vs (a) | added p50 vs (b) | added p99 vs (b) | not 201 |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...rows,
    '',
    `| target | measured | met |`,
    '|---|--:|:-:|',
    `| mtls-guard adds ≤ 2 ms median over the in-process policy, (d) − (c) | ${diff(guard?.latencyMs.p50, vap?.latencyMs.p50)} | ${added === undefined ? '–' : added <= 2 ? 'yes' : '**no**'} |`,
    '',
    a.guardMeanDecisionMs === null
      ? ''
      : `mtls-guard's own time per decision over the ${a.guardDecisions} measured requests (\`mtls_guard_admission_duration_seconds\`, from receiving the request to having the decision): ${ms(a.guardMeanDecisionMs)} ms mean. ` +
        `(b) − (a) is the floor of any webhook hop (the API server encoding the AdmissionReview, HTTPS on its kept-alive connection, a server that only parses the review and answers allowed, decoding the answer); (d) − (b) is what mtls-guard adds over that floor: ${diff(guard?.latencyMs.p50, floor?.latencyMs.p50)} at the median, ${diff(guard?.latencyMs.p99, floor?.latencyMs.p99)} at p99.`,
    ...(a.cluster ? ['', clusterMarkdown(a.cluster)] : []),
    inPods ? POD_END : API_END,
  ].join('\n');
}

/** Prints the section and, unless quick, writes it into BENCHMARKS.md with its JSON (and, for the local form, the latency panel). */
export function writeApiServerReport(a: ApiServerResults, options: { quick: boolean }): void {
  const md = apiServerMarkdown(a);
  process.stdout.write(`${md}\n`);
  if (options.quick) return;
  if (a.webhookIn === 'pod') {
    writeFileSync(POD_RESULTS, `${JSON.stringify(a, null, 2)}\n`);
    replaceSection(POD_BEGIN, POD_END, md);
    return;
  }
  writeFileSync(API_RESULTS, `${JSON.stringify(a, null, 2)}\n`);
  const bench = readJson<BenchResults>(RESULTS);
  if (bench) writeFileSync(join(ROOT, 'bench/latency.svg'), latencySvg(bench, a));
  replaceSection(API_BEGIN, API_END, md);
}
