// Cluster mode's periodic computation of the mesh gauges and PolicyReports (cluster-state.ts) on
// the generated 10k-Service mesh (bench/mesh-snapshot.ts), in-process, no API server: how long
// the event loop is held, the old synchronous way against the sliced one the server runs now.
//
//   node --expose-gc --import tsx bench/cluster-refresh.ts              # full mesh
//   node --expose-gc --import tsx bench/cluster-refresh.ts --scale 0.1  # a tenth of every count
//
// Each mode gets a freshly built model (the walk's caches start cold, as after a change) and does
// the whole run: the model's walk, the scan, the PolicyReports and each report's content hash
// (what PolicyReportWriter.update compares). While it runs, the event loop's delay is sampled
// (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and a 1 ms interval timer records how late
// it fires: the max of either is how long an admission arriving then would have waited.
// "sync" runs the same steps drained in one go (the server before the slicing; the step-wise
// forms drain to the same code, so only the scheduling differs).
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { defaultPolicy } from '../src/engine/index.js';
import { MeshModel } from '../src/mesh/index.js';
import { policyReports } from '../src/reports/policy-report.js';
import { scanOf } from '../src/reports/scan-report.js';
import { refreshSteps, runInSlices, scanGauges } from '../src/server/cluster-gauges.js';
import { reportContent } from '../src/server/cluster-reports.js';
import { GAUGE_SLICE_MS } from '../src/server/cluster-state.js';
import { FULL_MESH, meshSnapshot, scaleMesh } from './mesh-snapshot.js';

const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' } } });
const scale = Number(values.scale);
if (!(scale > 0)) throw new Error(`--scale ${values.scale}: a positive number`);
const size = scale === 1 ? FULL_MESH : scaleMesh(FULL_MESH, scale);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

interface Observed {
  mode: string;
  wallMs: number;
  loopDelayMaxMs: number;
  timerLatenessMaxMs: number;
  detail: Record<string, number>;
}

async function observe(mode: string, run: () => Promise<Record<string, number>>): Promise<Observed> {
  gc();
  await new Promise((r) => setTimeout(r, 50));
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let last = performance.now();
  let lateness = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    lateness = Math.max(lateness, now - last - 1);
    last = now;
  }, 1);
  histogram.enable();
  await new Promise((r) => setTimeout(r, 20));
  const start = performance.now();
  const detail = await run();
  const wallMs = performance.now() - start;
  await new Promise((r) => setTimeout(r, 20));
  histogram.disable();
  clearInterval(timer);
  return { mode, wallMs, loopDelayMaxMs: histogram.max / 1e6, timerLatenessMaxMs: lateness, detail };
}

const objects = meshSnapshot(size);
const fresh = (): MeshModel => MeshModel.build(objects, defaultPolicy());
const now = new Date();
const results: Observed[] = [];

let model = fresh();
results.push(
  await observe('sync (one stretch, as before)', () => {
    const scan = scanOf(model);
    const gauges = scanGauges(scan);
    const reports = policyReports(scan, now);
    const hashes = reports.map((r) => createHash('sha256').update(reportContent(r)).digest('hex'));
    return Promise.resolve({ reports: reports.length, hashes: hashes.length, namespaces: gauges.plaintextPorts.size });
  }),
);
model = fresh();
results.push(
  await observe(`sliced (${GAUGE_SLICE_MS} ms budget, as the server runs it)`, async () => {
    const run = await runInSlices(refreshSteps(model, () => now), GAUGE_SLICE_MS);
    if (!run) throw new Error('the run stopped');
    return { reports: run.value.reports?.length ?? 0, slices: run.slices, busyMs: Math.round(run.busyMs), longestSliceMs: Math.round(run.longestMs) };
  }),
);

const [load1, load5] = loadavg();
console.log(`cluster refresh on the bench mesh (${size.services} Services, ${size.workloads} workloads, ${size.namespaces} namespaces); load average ${load1?.toFixed(1)} / ${load5?.toFixed(1)}`);
for (const r of results) {
  console.log(
    `${r.mode}: run ${Math.round(r.wallMs)} ms, event loop max delay ${Math.round(r.loopDelayMaxMs)} ms (1 ms timer max lateness ${Math.round(r.timerLatenessMaxMs)} ms); ${Object.entries(r.detail)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
}
