// Cluster mode keeps the mesh's PolicyReports in the cluster (cluster-reports.ts), against the fake
// API server with the wgpolicyk8s.io reports API in front of it (cluster-reports-fake.ts): the
// reports are the ones `scan -o policyreport` builds for the same objects; a report is written
// only when its content changed; a namespace whose results are gone loses its report; nothing is
// written while the CRDs are absent (or while the reports are forbidden), and the reports appear
// once they are served (allowed); a failed write is counted and retried without any change in the
// mesh; reports without our label are left alone.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { defaultPolicy, type Policy } from '../../src/engine/index.js';
import { MeshModel } from '../../src/mesh/index.js';
import { policyReports, type PolicyReport } from '../../src/reports/policy-report.js';
import { scanOf } from '../../src/reports/scan-report.js';
import { meshGauges, scanGauges } from '../../src/server/cluster-gauges.js';
import { PolicyReportWriter, reportContent } from '../../src/server/cluster-reports.js';
import { startClusterState, type ClusterState } from '../../src/server/cluster-state.js';
import { createMetrics, type Metrics } from '../../src/server/metrics.js';
import { FakeApi, PATHS } from './cluster-fake-api.js';
import { FakeReportsApi, type StoredReport } from './cluster-reports-fake.js';
import { memoryLogger, waitFor } from './helpers.js';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [key: string]: unknown } } & Record<string, unknown>;

const NS = 'bookinfo';
const OTHER = 'frontend';
const LABEL = { 'app.kubernetes.io/managed-by': 'mtls-guard' };

const namespace = (name: string): Obj => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'istio-injection': 'enabled' } } });
const service: Obj = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'reviews', namespace: NS },
  spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }] },
};
const deployment: Obj = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'reviews-v1', namespace: NS },
  spec: {
    selector: { matchLabels: { app: 'reviews' } },
    template: { metadata: { labels: { app: 'reviews' } }, spec: { containers: [{ name: 'reviews', image: 'reviews:1', ports: [{ containerPort: 9080 }] }] } },
  },
};
const strict: Obj = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: NS }, spec: { mtls: { mode: 'STRICT' } } };
/** Clients in `frontend` send plaintext to reviews, which refuses it: a result in frontend's report. */
const disableRule: Obj = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name: 'reviews-plaintext', namespace: OTHER },
  spec: { host: `reviews.${NS}.svc.cluster.local`, trafficPolicy: { tls: { mode: 'DISABLE' } } },
};

const PATH_OF: Record<string, string> = {
  Namespace: PATHS.namespaces,
  Service: PATHS.services,
  Deployment: PATHS.deployments,
  PeerAuthentication: PATHS.peerAuthentications,
  DestinationRule: PATHS.destinationRules,
};

function pathOf(o: Obj): string {
  const path = PATH_OF[o.kind];
  assert.ok(path, o.kind);
  return path;
}

/** What `scan -o policyreport` builds for these objects (scan-run.ts: MeshModel.build, scanOf, policyReports). */
function scanned(objects: Obj[], policy: Policy): PolicyReport[] {
  return policyReports(scanOf(MeshModel.build(objects, policy)), new Date());
}

async function metric(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) return 0;
  const { values } = await m.get();
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((s, v) => s + v.value, 0);
}

interface Setup {
  api: FakeApi;
  reports: FakeReportsApi;
  state: ClusterState;
  metrics: Metrics;
  policy: Policy;
  objects: Map<string, Obj>;
}

const running: Setup[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) {
    await s.state.close();
    await s.reports.close();
    await s.api.close();
  }
});

async function setup(objects: Obj[], options: { crds?: boolean; forbid?: boolean; failWrites?: number; seed?: StoredReport[] } = {}): Promise<Setup> {
  const api = new FakeApi();
  await api.listen();
  const reports = new FakeReportsApi(api);
  reports.crds = options.crds ?? true;
  reports.failWrites = options.failWrites ?? 0;
  reports.forbid = options.forbid ?? false;
  for (const r of options.seed ?? []) reports.seed(r);
  await reports.listen();
  const byKey = new Map<string, Obj>();
  for (const o of objects) {
    api.put(pathOf(o), o);
    byKey.set(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o);
  }
  const metrics = createMetrics();
  const policy = defaultPolicy();
  const state = startClusterState(
    { getPolicy: () => policy, logger: memoryLogger().logger, metrics, backoff: { initialMs: 20, maxMs: 200 }, rediscoverMs: 100, gaugeIntervalMs: 50 },
    reports.kubeConfig(),
  );
  const s = { api, reports, state, metrics, policy, objects: byKey };
  running.push(s);
  return s;
}

function put(s: Setup, o: Obj): void {
  s.api.put(pathOf(o), o);
  s.objects.set(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o);
}

function remove(s: Setup, o: Obj): void {
  s.api.remove(pathOf(o), o.metadata.namespace ?? '', o.metadata.name);
  s.objects.delete(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
}

/** The cluster's reports of ours, by namespace ('' for the ClusterPolicyReport). */
function stored(s: Setup): Map<string, StoredReport> {
  const out = new Map<string, StoredReport>();
  for (const r of s.reports.reports.values()) if (r.metadata.name === 'mtls-guard-mesh' && r.metadata.labels?.['app.kubernetes.io/managed-by'] === 'mtls-guard') out.set(r.metadata.namespace ?? '', r);
  return out;
}

/** Whether the cluster holds exactly the reports scan builds for the objects the fake API holds now. */
function matchesScan(s: Setup): boolean {
  const want = scanned([...s.objects.values()], s.policy);
  const have = stored(s);
  return have.size === want.length && want.every((w) => {
    const h = have.get(w.metadata.namespace ?? '');
    return h !== undefined && h.kind === w.kind && reportContent(h) === reportContent(w) && JSON.stringify(h.metadata.labels) === JSON.stringify(LABEL);
  });
}

const base = [namespace(NS), namespace(OTHER), service, deployment, strict];

describe('cluster mode: PolicyReports', () => {
  test('the reports are the ones scan builds for the same objects, written once, and follow the mesh', async () => {
    const s = await setup([...base, disableRule]);
    await waitFor('the reports scan builds', () => matchesScan(s), 10_000);
    const first = stored(s);
    assert.deepEqual([...first.keys()].sort(), ['', NS, OTHER]);
    assert.equal(first.get('')?.kind, 'ClusterPolicyReport');
    assert.deepEqual(first.get(OTHER)?.summary, { pass: 0, fail: 1, warn: 0, error: 0, skip: 0 });
    assert.equal(first.get(OTHER)?.results?.[0]?.['rule'], 'destinationrule-strict-conflict');
    assert.deepEqual(first.get(NS)?.summary, { pass: 1, fail: 0, warn: 0, error: 0, skip: 0 });
    assert.deepEqual(s.reports.writes.sort(), ['POST /mtls-guard-mesh', `POST ${NS}/mtls-guard-mesh`, `POST ${OTHER}/mtls-guard-mesh`].sort());
    // Counted when the answer arrives, a moment after the fake stored the report.
    await waitFor('the writes counted', async () => (await metric(s.metrics, 'mtls_guard_policy_report_writes_total', { result: 'created' })) === 3);

    // The conflicting rule deleted: frontend has no result left, its report goes; the others are
    // unchanged and not written again.
    s.reports.writes.length = 0;
    remove(s, disableRule);
    await waitFor('the report of the namespace without results to go', () => matchesScan(s), 10_000);
    assert.equal(stored(s).has(OTHER), false);
    assert.deepEqual(s.reports.writes, [`DELETE ${OTHER}/mtls-guard-mesh`]);
    // Counted when the answer arrives, a moment after the fake stored the report.
    await waitFor('the writes counted', async () => (await metric(s.metrics, 'mtls_guard_policy_report_writes_total', { result: 'deleted' })) === 1);

    // The mode changed: bookinfo's report is replaced with the new content.
    put(s, { ...strict, spec: { mtls: { mode: 'PERMISSIVE' } } });
    await waitFor('the replaced report', () => matchesScan(s), 10_000);
    assert.deepEqual(stored(s).get(NS)?.summary, { pass: 0, fail: 0, warn: 1, error: 0, skip: 0 });
    assert.deepEqual(s.reports.writes, [`DELETE ${OTHER}/mtls-guard-mesh`, `PUT ${NS}/mtls-guard-mesh`]);
  });

  test('a change that leaves every report as it was writes nothing', async () => {
    const s = await setup(base);
    await waitFor('the first reports', () => matchesScan(s), 10_000);
    const writes = s.reports.writes.length;
    const gauges = (): Promise<number> => metric(s.metrics, 'mtls_guard_mesh_plaintext_ports', { namespace: 'extra' });
    // A change the reports do not show (a container's image), then one the gauges show first:
    // once that has been computed, the first one has been too.
    put(s, { ...deployment, spec: { ...(deployment['spec'] as object), template: { metadata: { labels: { app: 'reviews' } }, spec: { containers: [{ name: 'reviews', image: 'reviews:2', ports: [{ containerPort: 9080 }] }] } } } });
    put(s, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'extra' } });
    put(s, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'extra' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } });
    put(s, { ...deployment, metadata: { name: 'web', namespace: 'extra' }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:1', ports: [{ containerPort: 80 }] }] } } } });
    await waitFor('the gauges and reports computed after the changes', async () => (await gauges()) === 1 && matchesScan(s), 10_000);
    // Only the new namespace's report was written: bookinfo's and the cluster's content did not change.
    assert.deepEqual(s.reports.writes.slice(writes), ['POST extra/mtls-guard-mesh']);
  });

  test('no writes while the CRDs are absent; the reports appear once they are served', async () => {
    const s = await setup(base, { crds: false });
    await waitFor('the gauges computed (the mesh synced)', async () => (await metric(s.metrics, 'mtls_guard_mesh_plaintext_ports', { namespace: NS })) === 0 && s.state.current(s.policy).ok);
    await waitFor('discovery asked again', async () => {
      const status = s.state.status() as { policyReports?: string };
      return /not served/.test(status.policyReports ?? '');
    });
    assert.deepEqual(s.reports.writes, []);
    assert.equal(s.reports.reports.size, 0);
    s.reports.crds = true;
    await waitFor('the reports once the CRDs are served', () => matchesScan(s), 10_000);
  });

  test('no RBAC for the reports (403): none written, said in the status; written once allowed', async () => {
    const s = await setup(base, { forbid: true });
    await waitFor('the refusal in the status', () => /^not written: .*forbidden/.test(String((s.state.status() as { policyReports?: string }).policyReports)), 10_000);
    assert.deepEqual(s.reports.writes, []);
    s.reports.forbid = false;
    await waitFor('the reports once allowed', () => matchesScan(s), 10_000);
  });

  test('a failed write is counted and retried without any change in the mesh', async () => {
    const s = await setup(base, { failWrites: 2 });
    await waitFor('the reports despite two failed writes', () => matchesScan(s), 10_000);
    assert.equal(await metric(s.metrics, 'mtls_guard_policy_report_writes_total', { result: 'error' }), 2);
    assert.equal(s.reports.writes.filter((w) => w === 'POST failed').length, 2);
    // The status follows once the run that wrote them has finished.
    await waitFor('the status to say the reports are current', () => (s.state.status() as { policyReports?: string }).policyReports === 'current: 2 reports');
  });

  test('reports without our label are left alone; a stale report of ours is deleted', async () => {
    const foreign: StoredReport = { apiVersion: 'wgpolicyk8s.io/v1alpha2', kind: 'PolicyReport', metadata: { name: 'mtls-guard-mesh', namespace: NS }, summary: { pass: 7, fail: 0, warn: 0, error: 0, skip: 0 }, results: [] };
    const kyverno: StoredReport = { apiVersion: 'wgpolicyk8s.io/v1alpha2', kind: 'PolicyReport', metadata: { name: 'kyverno-x', namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'kyverno' } }, summary: { pass: 1, fail: 0, warn: 0, error: 0, skip: 0 }, results: [] };
    const stale: StoredReport = { apiVersion: 'wgpolicyk8s.io/v1alpha2', kind: 'PolicyReport', metadata: { name: 'mtls-guard-mesh', namespace: 'gone', labels: LABEL }, summary: { pass: 0, fail: 1, warn: 0, error: 0, skip: 0 }, results: [] };
    const s = await setup(base, { seed: [foreign, kyverno, stale] });
    const before = { foreign: JSON.stringify(s.reports.report(NS)), kyverno: JSON.stringify(s.reports.report(NS, 'kyverno-x')) };
    await waitFor('the stale report deleted and the cluster report written', () => s.reports.report('gone') === undefined && s.reports.report('') !== undefined, 10_000);
    await waitFor('the foreign report skipped', async () => (await metric(s.metrics, 'mtls_guard_policy_report_writes_total', { result: 'skipped' })) === 1);
    assert.equal(JSON.stringify(s.reports.report(NS)), before.foreign);
    assert.equal(JSON.stringify(s.reports.report(NS, 'kyverno-x')), before.kyverno);
    assert.ok(!s.reports.writes.some((w) => w.startsWith('PUT') || w === `DELETE ${NS}/mtls-guard-mesh` || w.includes('kyverno-x')), s.reports.writes.join(', '));
  });

  test('--no-policy-reports: no report written', async () => {
    const api = new FakeApi();
    await api.listen();
    const reports = new FakeReportsApi(api);
    await reports.listen();
    for (const o of base) api.put(pathOf(o), o);
    const metrics = createMetrics();
    const policy = defaultPolicy();
    const state = startClusterState({ getPolicy: () => policy, logger: memoryLogger().logger, metrics, backoff: { initialMs: 20, maxMs: 200 }, rediscoverMs: 100, gaugeIntervalMs: 50, policyReports: false }, reports.kubeConfig());
    running.push({ api, reports, state, metrics, policy, objects: new Map() });
    await waitFor('the gauges computed', async () => (await metric(metrics, 'mtls_guard_mesh_plaintext_ports', { namespace: NS })) === 0 && state.current(policy).ok);
    assert.deepEqual(reports.writes, []);
    assert.equal((state.status() as { policyReports?: string }).policyReports, 'disabled (--no-policy-reports)');
  });

  test('a report deleted by hand comes back at the next resync, with no change in the mesh', async () => {
    const api = new FakeApi();
    await api.listen();
    const reports = new FakeReportsApi(api);
    await reports.listen();
    const metrics = createMetrics();
    const writer = new PolicyReportWriter(reports.kubeConfig(), { logger: memoryLogger().logger, metrics, rediscoverMs: 100, resyncMs: 0 });
    try {
      writer.update(scanned(base, defaultPolicy()));
      await waitFor('the first reports', () => reports.report(NS) !== undefined && reports.report('') !== undefined);
      await writer.idle();
      // Nothing changed and no resync due: a tick sends nothing (resyncMs 0 is always due, so
      // first a writer that never resyncs shows the quiet case).
      const quiet = new PolicyReportWriter(reports.kubeConfig(), { logger: memoryLogger().logger, metrics: createMetrics(), rediscoverMs: 100, resyncMs: 3_600_000 });
      quiet.update(scanned(base, defaultPolicy()));
      await quiet.idle();
      const writes = reports.writes.length;
      quiet.tick();
      await quiet.idle();
      assert.equal(reports.writes.length, writes, 'the same content: nothing written');
      await quiet.close();

      reports.reports.delete(`${NS}/mtls-guard-mesh`);
      writer.tick();
      await writer.idle();
      assert.ok(reports.report(NS), 'recreated at the resync');
      assert.equal(reports.writes.at(-1), `POST ${NS}/mtls-guard-mesh`);
    } finally {
      await writer.close();
      await reports.close();
      await api.close();
    }
  });

  test('the gauges from a scan are the gauges from the model', () => {
    const policy = defaultPolicy();
    for (const objects of [base, [...base, disableRule], [namespace(NS), service, deployment]]) {
      const model = MeshModel.build(objects, policy);
      const a = meshGauges(model);
      const b = scanGauges(scanOf(model));
      assert.deepEqual([...b.plaintextPorts].sort(), [...a.plaintextPorts].sort());
      assert.deepEqual(b.conflicts, a.conflicts);
    }
  });
});
