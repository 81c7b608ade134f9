// bench:apiserver's cluster mode (issue 13 item 5): the generated large mesh created through the
// API server, `mtls-guard serve --kubeconfig` watching it, and the same dry-run creates of a
// DestinationRule and a PeerAuthentication sent through the API server to the single-object
// server and to the cluster-mode server in interleaved rounds; time to sync and memory.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  BENCH_NAME,
  collectionPath,
  dryRunCreate,
  guardDurations,
  metricsText,
  metricValue,
  poll,
  summary,
  webhookConfiguration,
  type Cluster,
} from './apiserver-kube.js';
import { loadMesh, meshAdmissions } from './apiserver-mesh.js';
import type { ClusterConfigId, ClusterModeResults, ClusterSeries, MemoryPoint, MeshCreateKind } from './apiserver-report.js';
import { FULL_MESH, planMesh, scaleMesh, type KubeObject } from './mesh-snapshot.js';
import { rssBytes, sampleRss, startGuard, stop, type Running } from './processes.js';

type Guard = Running & { metricsPort: number };

export interface ClusterModeOptions {
  cluster: Cluster;
  kubeconfig: string;
  certDir: string;
  work: string;
  /** The single-object server (already running, `--no-cluster`). */
  single: Guard;
  meshScale: number;
  /** Creates per configuration (split between the two objects). */
  requests: number;
  rounds: number;
  warmup: number;
  concurrency: number;
  /** When set, the cluster-mode server writes a V8 heap snapshot there at the end (after every figure is taken). */
  heapSnapshotDir?: string;
  /** Registers a clean-up to run if the bench is interrupted (SIGINT/SIGTERM) before this part ends. */
  onInterrupt: (cleanUp: () => Promise<void>) => void;
  log: (msg: string) => void;
}

const MESH_RESOURCES = [
  { group: 'networking.istio.io', resource: 'destinationrules' },
  { group: 'security.istio.io', resource: 'peerauthentications' },
];
const MESH_UNAVAILABLE = 'mesh state unavailable';

async function memory(g: Guard): Promise<MemoryPoint> {
  const text = await metricsText(g.metricsPort);
  return { rssBytes: rssBytes(g.pid) ?? 0, heapUsedBytes: metricValue(text, 'nodejs_heap_size_used_bytes') ?? 0 };
}

/** mtls-guard's /readyz `cluster` part (see docs/cluster-mode.md). */
async function clusterStatus(g: Guard): Promise<{ mesh?: string; kinds?: Record<string, { phase: string; objects: number }> }> {
  const r = await fetch(`http://127.0.0.1:${g.metricsPort}/readyz`);
  const body = (await r.json()) as { cluster?: { mesh?: string; kinds?: Record<string, { phase: string; objects: number }> } };
  return body.cluster ?? {};
}

/** Seconds from `t0` (epoch ms) to each kind's 'informer synced' line in a pino log file. */
function syncedAt(logFile: string, t0: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('informer synced')) continue;
    try {
      const l = JSON.parse(line) as { msg?: string; kind?: string; time?: number | string };
      const time = typeof l.time === 'number' ? l.time : Date.parse(String(l.time));
      if (l.msg === 'informer synced' && l.kind && out[l.kind] === undefined) out[l.kind] = Math.round((time - t0) / 100) / 10;
    } catch {
      // not a JSON line (a crash trace would be): ignored here, the run fails elsewhere
    }
  }
  return out;
}

/**
 * Registers `target` as the webhook and waits until the API server calls it and not `other`
 * (its cache of webhook configurations lags the write): two probes in a row must raise
 * `target`'s decision count only. Returns the last probe's answer.
 */
async function switchTo(cluster: Cluster, target: Guard, other: Guard, yaml: string, probe: KubeObject): Promise<{ status: number; body: string }> {
  await cluster.kubectl(['delete', 'validatingwebhookconfiguration', BENCH_NAME, '--ignore-not-found', '--wait=true']);
  await cluster.kubectl(['apply', '-f', '-'], yaml);
  let inARow = 0;
  return poll(`webhook on port ${target.port} in force`, 60_000, 100, async () => {
    const [t0, o0] = await Promise.all([guardDurations(target.metricsPort), guardDurations(other.metricsPort)]);
    const r = await dryRunCreate(cluster, collectionPath(probe.apiVersion, probe.kind, probe.metadata.namespace), JSON.stringify(probe));
    const [t1, o1] = await Promise.all([guardDurations(target.metricsPort), guardDurations(other.metricsPort)]);
    inARow = t1.count > t0.count && o1.count === o0.count ? inARow + 1 : 0;
    return inARow >= 2 ? { value: r } : { note: `${r.status} ${r.body.slice(0, 200)}` };
  });
}

/** Signals `guard` to write a heap snapshot into `dir` and waits until the file stops growing. */
async function heapSnapshot(guard: Guard, dir: string, log: (msg: string) => void): Promise<void> {
  const before = new Set(readdirSync(dir));
  process.kill(guard.pid, 'SIGUSR2');
  let last = -1;
  const file = await poll('heap snapshot written', 300_000, 1000, async () => {
    const f = readdirSync(dir).find((x) => x.endsWith('.heapsnapshot') && !before.has(x));
    if (!f) return {};
    const size = statSync(join(dir, f)).size;
    const done = size > 0 && size === last;
    last = size;
    return done ? { value: join(dir, f) } : {};
  });
  log(`heap snapshot of the cluster-mode server: ${file}`);
}

/** Runs the whole cluster-mode part; `single` stays running, the cluster-mode server is stopped. */
export async function runClusterMode(o: ClusterModeOptions): Promise<ClusterModeResults> {
  const { cluster, log } = o;
  const plan = planMesh(o.meshScale === 1 ? FULL_MESH : scaleMesh(FULL_MESH, o.meshScale));
  log(`creating the generated mesh (scale ${o.meshScale}) through the API server, ${o.concurrency} in flight`);
  const load = await loadMesh(cluster, plan, o.concurrency, log);
  log(`created ${load.objects} objects in ${load.seconds} s (${load.retries} retried)`);
  const admissions = meshAdmissions(plan);

  const logFile = join(o.work, 'mtls-guard-cluster.log');
  const t0 = Date.now();
  const nodeFlags = o.heapSnapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${o.heapSnapshotDir}`] : [];
  const guard = await startGuard({ certDir: o.certDir, logFile, extraArgs: ['--kubeconfig', o.kubeconfig], nodeFlags });
  o.onInterrupt(async () => void (await stop(guard)));
  const rss = sampleRss(guard.pid, 50);
  try {
    const syncSeconds = await poll('cluster mode synced', 600_000, 50, async () => {
      const s = await clusterStatus(guard);
      return s.mesh === 'available' ? { value: (Date.now() - t0) / 1000 } : { note: String(s.mesh) };
    });
    const clusterSynced = await memory(guard);
    const status = await clusterStatus(guard);
    const informerObjects = Object.fromEntries(Object.entries(status.kinds ?? {}).map(([k, v]) => [k, v.objects]));
    log(`cluster mode synced in ${syncSeconds.toFixed(1)} s: ${JSON.stringify(informerObjects)}`);
    // The gauges walk the whole model once after sync, off the request path but on the same
    // thread: wait for them, so that they do not land inside the measurement.
    const gaugesSeconds = await poll('mesh gauges', 300_000, 200, async () => {
      const text = await metricsText(guard.metricsPort);
      return /^mtls_guard_mesh_(plaintext_ports|conflicts)\{/m.test(text) ? { value: (Date.now() - t0) / 1000 } : {};
    }).catch((err: unknown) => {
      log(`no mesh gauges: ${String(err)}`);
      return null;
    });
    const clusterGauges = gaugesSeconds === null ? null : await memory(guard);
    const syncedAtSeconds = syncedAt(logFile, t0);
    const loadavgBefore = loadavg().map((v) => Math.round(v * 100) / 100);

    const caBundle = readFileSync(join(o.certDir, 'ca.crt')).toString('base64');
    const guards: Record<ClusterConfigId, Guard> = { single: o.single, cluster: guard };
    const yaml = (g: Guard): string => webhookConfiguration({ port: g.port }, caBundle, MESH_RESOURCES);
    const objects: MeshCreateKind[] = ['destinationRule', 'peerAuthentication'];
    const sendOne = (k: MeshCreateKind, n: number): ReturnType<typeof dryRunCreate> => {
      const obj = k === 'destinationRule' ? admissions.destinationRule(n) : admissions.peerAuthentication(n);
      return dryRunCreate(cluster, collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace), JSON.stringify(obj));
    };
    const series = new Map<string, ClusterSeries & { samples: number[] }>();
    for (const config of ['single', 'cluster'] as const)
      for (const object of objects) series.set(`${config}/${object}`, { config, object, requests: 0, errors: 0, warned: 0, latencyMs: summary([]), roundP50Ms: [], samples: [] });
    const spent: Record<ClusterConfigId, { count: number; sum: number }> = { single: { count: 0, sum: 0 }, cluster: { count: 0, sum: 0 } };
    const unavailableBefore = metricValue(await metricsText(guard.metricsPort), 'mtls_guard_mesh_state_unavailable_total') ?? 0;
    const perRound = Math.max(1, Math.round(o.requests / o.rounds / objects.length));
    let seq = 0;
    for (let round = 0; round < o.rounds; round++) {
      const order: ClusterConfigId[] = round % 2 === 0 ? ['single', 'cluster'] : ['cluster', 'single'];
      for (const config of order) {
        const g = guards[config];
        const probe = await switchTo(cluster, g, config === 'single' ? guard : o.single, yaml(g), admissions.conflicting);
        // The probe is refused either way (destinationrule-disable); only with the mesh does the
        // answer also name the STRICT server side it breaks.
        const meshJudged = probe.body.includes('destinationrule-strict-conflict');
        if (probe.status < 400 || meshJudged !== (config === 'cluster')) throw new Error(`${config}: the DISABLE probe got ${probe.status}, mesh rule ${meshJudged ? '' : 'not '}applied: ${probe.body.slice(0, 400)}`);
        for (let i = 0; i < o.warmup; i++) for (const k of objects) await sendOne(k, seq++);
        const before = await guardDurations(g.metricsPort);
        const here: Record<MeshCreateKind, number[]> = { destinationRule: [], peerAuthentication: [] };
        for (let i = 0; i < perRound; i++) {
          for (const k of objects) {
            const r = await sendOne(k, seq++);
            const s = series.get(`${config}/${k}`);
            if (!s) continue;
            s.requests++;
            if (r.status !== 201 || (config === 'cluster' && r.warning.includes(MESH_UNAVAILABLE))) s.errors++;
            else if (r.warning) s.warned++;
            here[k].push(r.ms);
          }
        }
        const after = await guardDurations(g.metricsPort);
        spent[config].count += after.count - before.count;
        spent[config].sum += after.sum - before.sum;
        for (const k of objects) {
          const s = series.get(`${config}/${k}`);
          if (!s) continue;
          s.samples.push(...here[k]);
          s.roundP50Ms.push(summary(here[k]).p50);
          log(`cluster round ${round + 1} ${config} ${k}: p50 ${summary(here[k]).p50} ms p99 ${summary(here[k]).p99} ms (${s.errors} errors so far)`);
        }
      }
    }
    await cluster.kubectl(['delete', 'validatingwebhookconfiguration', BENCH_NAME, '--ignore-not-found', '--wait=true']);
    const unavailable = (metricValue(await metricsText(guard.metricsPort), 'mtls_guard_mesh_state_unavailable_total') ?? 0) - unavailableBefore;
    const [clusterEnd, singleEnd] = await Promise.all([memory(guard), memory(o.single)]);
    const peak = rss.stop().maxBytes;
    if (o.heapSnapshotDir) await heapSnapshot(guard, o.heapSnapshotDir, log);
    return {
      meshScale: o.meshScale,
      load,
      informerObjects,
      syncSeconds: Math.round(syncSeconds * 10) / 10,
      syncedAtSeconds,
      gaugesSeconds: gaugesSeconds === null ? null : Math.round(gaugesSeconds * 10) / 10,
      describe: admissions.describe,
      rounds: o.rounds,
      series: [...series.values()].map(({ samples, ...s }) => ({ ...s, latencyMs: summary(samples) })),
      decisionMeanMs: {
        single: spent.single.count ? Math.round((spent.single.sum / spent.single.count) * 1e6) / 1e3 : null,
        cluster: spent.cluster.count ? Math.round((spent.cluster.sum / spent.cluster.count) * 1e6) / 1e3 : null,
      },
      memory: { clusterSynced, clusterGauges, clusterEnd, clusterPeakRssBytes: peak, singleEnd },
      meshUnavailable: unavailable,
      loadavgBefore,
      loadavgAfter: loadavg().map((v) => Math.round(v * 100) / 100),
    };
  } finally {
    rss.stop();
    await stop(guard);
  }
}
