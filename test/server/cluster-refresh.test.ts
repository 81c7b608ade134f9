// Cluster mode computes the mesh gauges and PolicyReports in slices (cluster-gauges.ts
// refreshSteps, runInSlices) so admissions are answered while it runs: the sliced computation
// gives what the whole one gives; the event loop runs between slices; a mesh change during a run
// makes another run follow; close() during a run stops it without errors.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { defaultPolicy } from '../../src/engine/index.js';
import { MeshModel } from '../../src/mesh/index.js';
import { policyReports } from '../../src/reports/policy-report.js';
import { buildScan, scanOf } from '../../src/reports/scan-report.js';
import { meshGauges, refreshSteps, runInSlices, scanGauges } from '../../src/server/cluster-gauges.js';
import { reportContent } from '../../src/server/cluster-reports.js';
import { startClusterState, type ClusterState } from '../../src/server/cluster-state.js';
import { createMetrics, type Metrics } from '../../src/server/metrics.js';
import { meshSnapshot, SMALL_MESH } from '../../bench/mesh-snapshot.js';
import { FakeApi, PATHS } from './cluster-fake-api.js';
import { memoryLogger, waitFor } from './helpers.js';

function* counting(n: number, done: { closed: boolean }): Generator<void, number> {
  try {
    for (let i = 0; i < n; i++) yield;
    return n;
  } finally {
    done.closed = true;
  }
}

describe('runInSlices', () => {
  test('a step per slice with a 0 ms budget; what waits on the event loop runs between slices', async () => {
    let ran = 0;
    const interleaved: number[] = [];
    function* steps(): Generator<void, string> {
      for (let i = 0; i < 20; i++) {
        setImmediate(() => ran++);
        yield;
        interleaved.push(ran);
      }
      return 'answer';
    }
    const run = await runInSlices(steps(), 0);
    assert.ok(run);
    assert.equal(run.value, 'answer');
    assert.equal(run.slices, 21);
    // Each step saw the callback scheduled by the step before it already run.
    assert.deepEqual(interleaved, Array.from({ length: 20 }, (_, i) => i + 1));
    assert.ok(run.busyMs <= run.wallMs && run.longestMs <= run.busyMs);
  });

  test('stopped between slices: resolves undefined and closes the generator', async () => {
    const done = { closed: false };
    let slices = 0;
    const run = await runInSlices(counting(100, done), 0, () => slices >= 5, () => void slices++);
    assert.equal(run, undefined);
    assert.equal(slices, 5);
    assert.ok(done.closed, 'the generator was closed (its finally ran)');
  });

  test('a step that throws rejects the run', async () => {
    function* failing(): Generator<void, number> {
      yield;
      throw new Error('boom');
    }
    await assert.rejects(runInSlices(failing(), 0), /boom/);
  });
});

describe('refreshSteps', () => {
  test('the gauges, reports and hashes of the whole computation, on the small bench mesh', async () => {
    const model = MeshModel.build(meshSnapshot(SMALL_MESH), defaultPolicy());
    const now = new Date('2026-11-30T12:00:00.123Z');
    const sliced = await runInSlices(refreshSteps(model, () => now), 0);
    assert.ok(sliced?.value.reports);
    assert.ok(sliced.slices > 100, `${sliced.slices} slices`);
    const scan = scanOf(model);
    const reports = policyReports(scan, now);
    assert.deepEqual(sliced.value.gauges, scanGauges(scan));
    assert.deepEqual(sliced.value.gauges, meshGauges(model));
    assert.deepEqual(
      sliced.value.reports.map((r) => r.report),
      reports,
    );
    assert.deepEqual(
      sliced.value.reports.map((r) => r.hash),
      reports.map((r) => createHash('sha256').update(reportContent(r)).digest('hex')),
    );
    // The scan's sort (a merge sort in steps) orders whatever order the answers come in.
    const answers = { serverPorts: model.serverPorts(), flows: model.flows(), conflicts: model.authorizationConflicts(), rootNamespace: model.rootNamespace };
    const reversed = buildScan({ serverPorts: [...answers.serverPorts].reverse(), flows: [...answers.flows].reverse(), conflicts: [...answers.conflicts].reverse(), rootNamespace: model.rootNamespace });
    assert.deepEqual(reversed, scan);
    const hosts = scan.flows.map((f) => f.host);
    assert.ok(hosts.length > 100 && hosts.every((h, i) => i === 0 || (hosts[i - 1] as string) <= h), 'flows ordered by host');
    const gaugesOnly = await runInSlices(refreshSteps(model), 0);
    assert.deepEqual(gaugesOnly?.value, { gauges: meshGauges(model) });
  });
});

const NS = 'bookinfo';
const strict = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: NS }, spec: { mtls: { mode: 'STRICT' } } };
const disableRule = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: NS }, spec: { host: 'reviews', trafficPolicy: { tls: { mode: 'DISABLE' } } } };

function fill(api: FakeApi): void {
  api.put(PATHS.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'istio-injection': 'enabled' } } });
  api.put(PATHS.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: NS }, spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }] } });
  api.put(PATHS.deployments, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'reviews-v1', namespace: NS },
    spec: { selector: { matchLabels: { app: 'reviews' } }, template: { metadata: { labels: { app: 'reviews' } }, spec: { containers: [{ name: 'reviews', ports: [{ containerPort: 9080 }] }] } } },
  });
}

async function conflicts(metrics: Metrics): Promise<number> {
  const m = metrics.registry.getSingleMetric('mtls_guard_mesh_conflicts');
  assert.ok(m);
  return (await m.get()).values.filter((v) => v.labels['rule'] === 'destinationrule-strict-conflict').reduce((s, v) => s + v.value, 0);
}

describe('cluster mode: the gauges computed in slices', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  async function start(onGaugeSlice: (state: () => ClusterState, run: number, slice: number) => Promise<void> | void) {
    const api = new FakeApi({ istio: true });
    await api.listen();
    fill(api);
    const metrics = createMetrics();
    const policy = defaultPolicy();
    const log = memoryLogger();
    const holder: { state?: ClusterState } = {};
    const get = (): ClusterState => {
      assert.ok(holder.state);
      return holder.state;
    };
    const state = (holder.state = startClusterState(
      {
        getPolicy: () => policy,
        logger: log.logger,
        metrics,
        backoff: { initialMs: 20, maxMs: 200 },
        rediscoverMs: 100,
        gaugeIntervalMs: 50,
        gaugeSliceMs: 0,
        policyReports: false,
        onGaugeSlice: (run, slice) => onGaugeSlice(get, run, slice),
      },
      api.kubeConfig(),
    ));
    return { api, state, metrics, log };
  }

  const objects = (state: ClusterState, kind: string): number => ((state.status()['kinds'] as Record<string, { objects: number }>)[kind]?.objects ?? -1);

  test('a mesh change applied between the slices of a run makes another run follow', async () => {
    let changedDuring: number | undefined;
    const holder: { api?: FakeApi } = {};
    const s = await start(async (state, run, slice) => {
      const api = holder.api;
      if (changedDuring !== undefined || slice !== 1 || !api) return;
      changedDuring = run;
      api.put(PATHS.peerAuthentications, strict);
      api.put(PATHS.destinationRules, disableRule);
      // Held here, mid-run, until the informers applied both events to the model.
      await waitFor('the events applied', () => objects(state(), 'DestinationRule') === 1 && objects(state(), 'PeerAuthentication') === 1);
    });
    holder.api = s.api;
    cleanup.push(async () => {
      await s.state.close();
      await s.api.close();
    });
    const runs = (): number[] => s.log.lines.filter((l) => l.msg === 'mesh gauges computed').map((l) => (l as unknown as { run: number }).run);
    // The run the change interrupted may already count it (the walk had not reached the
    // Service yet); what matters is that another run follows it, on the changed mesh.
    await waitFor('a run after the one the change interrupted', () => changedDuring !== undefined && runs().some((r) => r > (changedDuring as number)));
    assert.ok((await conflicts(s.metrics)) > 0);
    assert.ok(!s.log.lines.some((l) => l.level >= 50), 'no error logged');
  });

  test('close() during a run stops it at the next slice, without errors', async () => {
    let closing: Promise<void> | undefined;
    const after: number[] = [];
    const s = await start((state, _run, slice) => {
      if (closing) {
        after.push(slice);
        return;
      }
      if (slice === 2) closing = state().close();
    });
    cleanup.push(() => s.api.close());
    await waitFor('a run under way closed', () => closing !== undefined);
    await closing;
    assert.deepEqual(after, [], 'no slice after close()');
    assert.ok(!s.log.lines.some((l) => l.msg === 'mesh gauges computed'), 'the closed run set no gauges');
    assert.ok(!s.log.lines.some((l) => l.level >= 50), 'no error logged');
  });
});
