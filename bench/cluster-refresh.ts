// Cluster mode's periodic computation of the mesh gauges and PolicyReports (cluster-state.ts) on
// the generated 10k-Service mesh (bench/mesh-snapshot.ts), in-process, no API server: how long
// the event loop is held, the old synchronous way against the sliced one the server runs now.
// Then the same for the rebuild of the model after a policy reload (cluster-rebuild.ts): built in
// one stretch (MeshModel.build, what the server did before) against the background rebuild the
// server runs now (ModelRebuild.steps in GAUGE_SLICE_MS slices), with how long until the new
// model is ready.
//
//   node --expose-gc --import tsx bench/cluster-refresh.ts              # full mesh, both cases
//   node --expose-gc --import tsx bench/cluster-refresh.ts --scale 0.1  # a tenth of every count
//   node --expose-gc --import tsx bench/cluster-refresh.ts --case reload  # only the reload (or: refresh)
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
import type { SlimObject } from '../src/server/cluster-kinds.js';
import { ModelRebuild } from '../src/server/cluster-rebuild.js';
import { reportContent } from '../src/server/cluster-reports.js';
import { GAUGE_SLICE_MS } from '../src/server/cluster-state.js';
import { FULL_MESH, meshSnapshot, scaleMesh } from './mesh-snapshot.js';

const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' }, case: { type: 'string', default: 'all' } } });
const scale = Number(values.scale);
if (!(scale > 0)) throw new Error(`--scale ${values.scale}: a positive number`);
if (!['all', 'refresh', 'reload'].includes(values.case)) throw new Error(`--case ${values.case}: all, refresh or reload`);
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

if (values.case !== 'reload') {
  const inOneStretch = fresh();
  results.push(
    await observe('sync (one stretch, as before)', () => {
      const scan = scanOf(inOneStretch);
      const gauges = scanGauges(scan);
      const reports = policyReports(scan, now);
      const hashes = reports.map((r) => createHash('sha256').update(reportContent(r)).digest('hex'));
      return Promise.resolve({ reports: reports.length, hashes: hashes.length, namespaces: gauges.plaintextPorts.size });
    }),
  );
}
if (values.case !== 'reload') {
  const sliced = fresh();
  results.push(
    await observe(`sliced (${GAUGE_SLICE_MS} ms budget, as the server runs it)`, async () => {
      const run = await runInSlices(refreshSteps(sliced, () => now), GAUGE_SLICE_MS);
      if (!run) throw new Error('the run stopped');
      return { reports: run.value.reports?.length ?? 0, slices: run.slices, busyMs: Math.round(run.busyMs), longestSliceMs: Math.round(run.longestMs) };
    }),
  );
}

// The reload: the model in force stays alive while the new one is built (as in the server, where
// it is still applied every event), so the heap holds both, as it does there. The run's wall
// time is the time from the reload to the new model in force (the server starts the rebuild at
// the first of an admission, the 1 s poll or a gauges run; the snapshot of the caches is taken
// then, synchronously, and counted here).
if (values.case !== 'refresh') {
  const inForce = fresh();
  const reloaded = (): ReturnType<typeof defaultPolicy> => defaultPolicy();
  results.push(
    await observe('reload: MeshModel.build in one stretch (as before)', () => {
      const built = MeshModel.build(objects, reloaded());
      return Promise.resolve({ objects: built.size, inForce: inForce.size });
    }),
  );
  results.push(
    await observe(`reload: background rebuild (${GAUGE_SLICE_MS} ms budget, as the server runs it)`, async () => {
      const rebuild = new ModelRebuild([...(objects as unknown as SlimObject[])], reloaded());
      const run = await runInSlices(rebuild.steps(), GAUGE_SLICE_MS);
      if (!run) throw new Error('the rebuild stopped');
      return { objects: run.value.size, slices: run.slices, busyMs: Math.round(run.busyMs), longestSliceMs: Math.round(run.longestMs), inForce: inForce.size };
    }),
  );
}

const [load1, load5] = loadavg();
console.log(`cluster refresh on the bench mesh (${size.services} Services, ${size.workloads} workloads, ${size.namespaces} namespaces); load average ${load1?.toFixed(1)} / ${load5?.toFixed(1)}`);
for (const r of results) {
  console.log(
    `${r.mode}: run ${Math.round(r.wallMs)} ms, event loop max delay ${Math.round(r.loopDelayMaxMs)} ms (1 ms timer max lateness ${Math.round(r.timerLatenessMaxMs)} ms); ${Object.entries(r.detail)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
}
