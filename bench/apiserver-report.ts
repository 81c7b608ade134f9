// bench:apiserver's cluster-mode results (bench/apiserver-cluster.ts) and their part of the
// generated BENCHMARKS.md block; bench/report.ts writes the rest of the block and the files.
import type { LoadResult } from './apiserver-mesh.js';
import type { Summary } from './apiserver-kube.js';

export type ClusterConfigId = 'single' | 'cluster';
export type MeshCreateKind = 'destinationRule' | 'peerAuthentication';

/** One (configuration, object) pair of the interleaved cluster-mode measurement. */
export interface ClusterSeries {
  config: ClusterConfigId;
  object: MeshCreateKind;
  requests: number;
  /** Answers other than 201, plus 201s warned "mesh state unavailable" in cluster mode. */
  errors: number;
  /** 201s that carried some other admission warning (e.g. a STRICT policy over DISABLE rules). */
  warned: number;
  latencyMs: Summary;
  roundP50Ms: number[];
}

/** Memory of one mtls-guard process at a moment of the run. */
export interface MemoryPoint {
  rssBytes: number;
  heapUsedBytes: number;
}

export interface ClusterModeResults {
  meshScale: number;
  /** Objects of the generated mesh per kind, as created through the API server. */
  load: LoadResult;
  /** Objects held per kind by the informers after sync (mtls_guard_mesh_objects). */
  informerObjects: Record<string, number>;
  /** From spawning `serve --kubeconfig` to /readyz saying the mesh is available. */
  syncSeconds: number;
  /** From the spawn to each kind's 'informer synced' log line. */
  syncedAtSeconds: Record<string, number>;
  /** From the spawn to the first mesh gauges on /metrics (computed off the request path after sync). */
  gaugesSeconds: number | null;
  describe: { destinationRule: string; peerAuthentication: string };
  rounds: number;
  series: ClusterSeries[];
  /** mtls-guard's own mean decision time (its duration histogram) per configuration, ms. */
  decisionMeanMs: Record<ClusterConfigId, number | null>;
  /** Memory: cluster mode right after sync, after the gauges, at the end; single-object mode at the end. */
  memory: { clusterSynced: MemoryPoint; clusterGauges: MemoryPoint | null; clusterEnd: MemoryPoint; clusterPeakRssBytes: number; singleEnd: MemoryPoint };
  /** Reviews judged without the mesh in cluster mode during the measurement (should be 0). */
  meshUnavailable: number;
  /** Load average (1, 5, 15 min) once synced, before the interleaved rounds, and after them. */
  loadavgBefore: number[];
  loadavgAfter: number[];
}

const mib = (b: number): string => (b / 1024 / 1024).toFixed(0);
const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const signed = (v: number): string => `${v >= 0 ? '+' : '−'}${ms(Math.abs(v))} ms`;
const OBJECT_LABEL: Record<MeshCreateKind, string> = { destinationRule: 'DestinationRule CREATE', peerAuthentication: 'PeerAuthentication CREATE' };

/** The added median (ms) of cluster over single-object mode per object, for the targets. */
export function clusterAdded(c: ClusterModeResults): { object: MeshCreateKind; p50: number; p99: number }[] {
  return (['destinationRule', 'peerAuthentication'] as const).flatMap((object) => {
    const s = c.series.find((x) => x.config === 'single' && x.object === object);
    const k = c.series.find((x) => x.config === 'cluster' && x.object === object);
    return s && k ? [{ object, p50: k.latencyMs.p50 - s.latencyMs.p50, p99: k.latencyMs.p99 - s.latencyMs.p99 }] : [];
  });
}

/** The markdown of the cluster-mode part (inside bench:apiserver's generated block). */
export function clusterMarkdown(c: ClusterModeResults): string {
  const kinds = Object.entries(c.load.byKind)
    .map(([k, n]) => `${n.toLocaleString('en-US')} ${k}`)
    .join(', ');
  const rows = c.series.map((s) => {
    const single = c.series.find((x) => x.config === 'single' && x.object === s.object);
    const added = s.config === 'cluster' && single ? `${signed(s.latencyMs.p50 - single.latencyMs.p50)} | ${signed(s.latencyMs.p99 - single.latencyMs.p99)}` : ' | ';
    return `| ${s.config === 'cluster' ? '(e) cluster mode (`serve --kubeconfig`)' : '(d) single-object (`serve --no-cluster`)'} | ${OBJECT_LABEL[s.object]} | ${s.requests} | ${ms(s.latencyMs.p50)} | ${ms(s.latencyMs.p90)} | ${ms(s.latencyMs.p99)} | ${ms(s.latencyMs.max)} | ${s.roundP50Ms.map(ms).join(' / ')} | ${added} | ${s.warned} | ${s.errors} |`;
  });
  const added = clusterAdded(c);
  const rss = c.memory.clusterEnd.rssBytes;
  const peak = c.memory.clusterPeakRssBytes;
  const targetRows = [
    ...added.map((a) => `| cluster mode adds ≤ 1 ms median over single-object mode, ${OBJECT_LABEL[a.object]} | ${signed(a.p50)} | ${a.p50 <= 1 ? 'yes' : '**no**'} |`),
    `| RSS ≤ 300 MiB with that mesh (after sync, the gauges and the measurement; peak while syncing in brackets) | ${mib(rss)} MiB (${mib(peak)} MiB) | ${Math.max(rss, peak) <= 300 * 1024 * 1024 ? 'yes' : rss <= 300 * 1024 * 1024 ? 'yes at rest, **no** at peak' : '**no**'} |`,
  ];
  const synced = Object.entries(c.syncedAtSeconds)
    .sort((a, b) => a[1] - b[1])
    .map(([k, s]) => `${k} ${s.toFixed(1)} s`)
    .join(', ');
  const m = c.memory;
  return [
    '### Cluster mode on the generated large mesh',
    '',
    `The mesh-model bench's generated mesh (scale ${c.meshScale}: ${kinds}) created through the API server in ${c.load.seconds} s (${c.load.concurrency} creates in flight, Namespaces first, ${c.load.retries} retried; Services headless, as the API server allocates cluster IPs at ~10/s and mtls-guard reads none). ` +
      `Load average ${c.loadavgBefore.join(' ')} before the measurement below, ${c.loadavgAfter.join(' ')} after. ` +
      `Then the same dry-run creates through the API server, in ${c.rounds} interleaved rounds, to (d) the single-object server of the table above (\`--no-cluster\`) and (e) a second \`mtls-guard serve --kubeconfig\` (cluster mode, admin kubeconfig) watching that mesh; the webhook registration names DestinationRules and PeerAuthentications and is switched between them (each checked to be the one called). ` +
      `Objects: ${c.describe.destinationRule}; ${c.describe.peerAuthentication}.`,
    '',
    '| configuration | object | creates | p50 ms | p90 ms | p99 ms | max ms | p50 per round ms | added p50 vs (d) | added p99 vs (d) | warned | not 201 / judged alone |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...rows,
    '',
    '| target | measured | met |',
    '|---|--:|:-:|',
    ...targetRows,
    '',
    `- mtls-guard's own mean decision time (its histogram, both objects): ${c.decisionMeanMs.single === null ? '–' : ms(c.decisionMeanMs.single)} ms single-object, ${c.decisionMeanMs.cluster === null ? '–' : ms(c.decisionMeanMs.cluster)} ms cluster mode; reviews judged without the mesh during the measurement: ${c.meshUnavailable}.`,
    `- Time to sync: ${c.syncSeconds.toFixed(1)} s from spawning the server to /readyz showing the mesh available (per kind, 'informer synced': ${synced}); the mesh gauges (computed off the request path once synced) appeared after ${c.gaugesSeconds === null ? '–' : `${c.gaugesSeconds.toFixed(1)} s`}.`,
    `- Informers hold: ${Object.entries(c.informerObjects)
      .map(([k, n]) => `${k} ${n.toLocaleString('en-US')}`)
      .join(', ')}.`,
    `- Memory (RSS / V8 heap used): cluster mode ${mib(m.clusterSynced.rssBytes)} / ${mib(m.clusterSynced.heapUsedBytes)} MiB right after sync, ${m.clusterGauges ? `${mib(m.clusterGauges.rssBytes)} / ${mib(m.clusterGauges.heapUsedBytes)} MiB after the gauges, ` : ''}${mib(m.clusterEnd.rssBytes)} / ${mib(m.clusterEnd.heapUsedBytes)} MiB at the end, peak RSS ${mib(peak)} MiB; single-object mode ${mib(m.singleEnd.rssBytes)} / ${mib(m.singleEnd.heapUsedBytes)} MiB at the end. ` +
      `Informer memory (cluster − single-object at the end): ${mib(m.clusterEnd.rssBytes - m.singleEnd.rssBytes)} MiB RSS, ${mib(m.clusterEnd.heapUsedBytes - m.singleEnd.heapUsedBytes)} MiB heap.`,
  ].join('\n');
}
