// Cluster mode against a fake API server (127.0.0.1, cluster-fake-api.ts): the model is built
// from lists and kept current from watches through client-node's real informer; the mesh is
// unavailable until every informer has synced and while one fails, and comes back after the
// back-off; 410 Gone re-lists; absent Istio CRDs are not an error; only slim copies are kept.
import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import { defaultPolicy, type Flow, type MeshView, type Policy } from '../../src/engine/index.js';
import { optionalKinds, slimObject, BUILT_IN_KINDS } from '../../src/server/cluster-kinds.js';
import { startClusterState, type ClusterState } from '../../src/server/cluster-state.js';
import { createMetrics, type Metrics } from '../../src/server/metrics.js';
import { FakeApi, PATHS } from './cluster-fake-api.js';
import { memoryLogger, waitFor } from './helpers.js';

const NS = 'bookinfo';

function fillBookinfo(api: FakeApi): void {
  api.put(PATHS.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'istio-injection': 'enabled' } } });
  api.put(PATHS.services, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'reviews', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }], clusterIP: '10.0.0.1' },
    status: {},
  });
  api.put(PATHS.deployments, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'reviews-v1', namespace: NS, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(1000) }, managedFields: [{}] },
    spec: {
      selector: { matchLabels: { app: 'reviews' } },
      template: { metadata: { labels: { app: 'reviews' } }, spec: { containers: [{ name: 'reviews', image: 'reviews:1', env: [{ name: 'A', value: 'b' }], ports: [{ containerPort: 9080 }] }] } },
    },
    status: { replicas: 1 },
  });
}

const strict = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: NS }, spec: { mtls: { mode: 'STRICT' } } };
const disableRule = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: NS }, spec: { host: 'reviews', trafficPolicy: { tls: { mode: 'DISABLE' } } } };

function broken(mesh: MeshView): Flow[] {
  return mesh.destinationRuleFlows(disableRule, NS, 'reviews').filter((f) => f.outcome === 'broken');
}

async function metric(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  assert.ok(m, name);
  const { values } = await m.get();
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((s, v) => s + v.value, 0);
}

interface Setup {
  api: FakeApi;
  state: ClusterState;
  metrics: Metrics;
  policy: Policy;
}

const running: Setup[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) {
    await s.state.close();
    await s.api.close();
  }
});
after(() => undefined);

async function setup(options: { istio?: boolean; hold?: boolean; fill?: (api: FakeApi) => void } = {}): Promise<Setup> {
  const api = new FakeApi({ istio: options.istio ?? true });
  await api.listen();
  (options.fill ?? fillBookinfo)(api);
  if (options.hold) api.hold();
  const metrics = createMetrics();
  const holder = { policy: defaultPolicy() };
  const state = startClusterState(
    { getPolicy: () => holder.policy, logger: memoryLogger().logger, metrics, backoff: { initialMs: 20, maxMs: 200 }, rediscoverMs: 100, gaugeIntervalMs: 50 },
    api.kubeConfig(),
  );
  const s = {
    api,
    state,
    metrics,
    /** The policy in force: assigning it is a reload. */
    get policy(): Policy {
      return holder.policy;
    },
    set policy(p: Policy) {
      holder.policy = p;
    },
  };
  running.push(s);
  return s;
}

function available(s: Setup): MeshView | undefined {
  const now = s.state.current(s.policy);
  return now.ok ? now.mesh : undefined;
}

describe('cluster mode', () => {
  test('unavailable until every informer has listed, then the model holds the lists', async () => {
    const s = await setup({ hold: true });
    const before = s.state.current(s.policy);
    assert.equal(before.ok, false);
    assert.match(before.ok ? '' : before.reason, /discovering|not synced yet/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.state.current(s.policy).ok, false, 'still unavailable while the lists are held');
    s.api.release();
    await waitFor('the informers to sync', () => available(s) !== undefined);
    assert.equal(await metric(s.metrics, 'mtls_guard_informer_synced', { kind: 'Service' }), 1);
    assert.equal(await metric(s.metrics, 'mtls_guard_informer_synced', { kind: 'PeerAuthentication' }), 1);
    assert.equal(await metric(s.metrics, 'mtls_guard_mesh_objects', { kind: 'Deployment' }), 1);
    // No PeerAuthentication yet: auto mTLS... and a DISABLE rule sends plaintext, which PERMISSIVE accepts.
    assert.deepEqual(broken(available(s) as MeshView), []);
  });

  test('watch events keep the model current, the admitted object replaces its cached copy', async () => {
    const s = await setup();
    await waitFor('sync', () => available(s) !== undefined);
    s.api.put(PATHS.peerAuthentications, strict);
    await waitFor('the STRICT PeerAuthentication to reach the model', () => broken(available(s) as MeshView).length > 0);
    const flows = broken(available(s) as MeshView);
    assert.equal(flows[0]?.server?.setBy?.ref.name, 'default');
    assert.equal(flows[0]?.server?.port, 9080);
    // The cached DestinationRule (ISTIO_MUTUAL) never decides for the one being admitted (DISABLE).
    s.api.put(PATHS.destinationRules, { ...disableRule, spec: { host: 'reviews', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } } });
    await waitFor('the DestinationRule in the cache', async () => (await metric(s.metrics, 'mtls_guard_mesh_objects', { kind: 'DestinationRule' })) === 1);
    assert.equal(broken(available(s) as MeshView).length, 1);
    s.api.remove(PATHS.peerAuthentications, NS, 'default');
    await waitFor('the deletion to reach the model', () => broken(available(s) as MeshView).length === 0);
  });

  test('a failing watch makes the mesh unavailable; it recovers after the back-off', async () => {
    const s = await setup();
    await waitFor('sync', () => available(s) !== undefined);
    s.api.fail();
    await waitFor('the mesh to become unavailable', () => available(s) === undefined);
    const down = s.state.current(s.policy);
    assert.match(down.ok ? '' : down.reason, /^watch failing: /);
    await waitFor('errors counted', async () => (await metric(s.metrics, 'mtls_guard_informer_errors_total')) >= 2);
    assert.equal(await metric(s.metrics, 'mtls_guard_informer_synced', { kind: 'Namespace' }), 0);
    // Changes made while the informers cannot see them arrive after the recovery.
    s.api.recover();
    s.api.put(PATHS.peerAuthentications, strict);
    await waitFor('recovery', () => available(s) !== undefined, 10_000);
    await waitFor('the change made during the outage', () => broken(available(s) as MeshView).length === 1);
  });

  test('410 Gone on a resumed watch re-lists: an object deleted meanwhile leaves the model', async () => {
    const s = await setup({
      fill: (api) => {
        fillBookinfo(api);
        api.put(PATHS.peerAuthentications, strict);
      },
    });
    await waitFor('sync with the STRICT policy', () => available(s) !== undefined && broken(available(s) as MeshView).length === 1);
    const lists = (): number => s.api.requests.filter((r) => r === PATHS.peerAuthentications).length;
    const listedBefore = lists();
    s.api.fail();
    s.api.remove(PATHS.peerAuthentications, NS, 'default');
    s.api.compact();
    s.api.recover();
    await waitFor('a re-list after 410 Gone', () => lists() > listedBefore, 10_000);
    await waitFor('the deleted policy to leave the model', () => available(s) !== undefined && broken(available(s) as MeshView).length === 0, 10_000);
    assert.equal(await metric(s.metrics, 'mtls_guard_mesh_objects', { kind: 'PeerAuthentication' }), 0);
  });

  test('without the Istio CRDs: the built-in kinds sync, the Istio kinds are reported absent', async () => {
    const s = await setup({ istio: false });
    await waitFor('sync', () => available(s) !== undefined);
    const status = s.state.status() as { mesh: string; kinds: Record<string, unknown>; absent?: string[] };
    assert.equal(status.mesh, 'available');
    // Every built-in kind is watched; every optional kind (Istio's, the add-ons' workloads) is absent.
    assert.deepEqual(Object.keys(status.kinds).sort(), BUILT_IN_KINDS.map((k) => k.kind).sort());
    assert.ok(BUILT_IN_KINDS.some((k) => k.kind === 'Deployment'));
    assert.deepEqual(status.absent?.sort(), optionalKinds(s.policy.workloadKinds).map((k) => k.kind).sort());
    assert.ok(status.absent.includes('PeerAuthentication'));
    assert.ok(!s.api.requests.some((r) => r.includes('istio.io/v1/')), 'no Istio collection is listed');
  });

  test('the gauges: plaintext ports per namespace and conflicts, computed after a change', async () => {
    const s = await setup();
    await waitFor('sync', () => available(s) !== undefined);
    await waitFor('plaintext ports (PERMISSIVE by default)', async () => (await metric(s.metrics, 'mtls_guard_mesh_plaintext_ports', { namespace: NS })) === 1);
    s.api.put(PATHS.peerAuthentications, strict);
    s.api.put(PATHS.destinationRules, disableRule);
    await waitFor('a conflict and no plaintext port', async () => (await metric(s.metrics, 'mtls_guard_mesh_conflicts', { rule: 'destinationrule-strict-conflict' })) > 0);
    assert.equal(await metric(s.metrics, 'mtls_guard_mesh_plaintext_ports', { namespace: NS }), 0);
  });

  test('a policy reload rebuilds the model from the caches (in the background: cluster-rebuild.test.ts)', async () => {
    const s = await setup({
      fill: (api) => {
        fillBookinfo(api);
        api.put(PATHS.peerAuthentications, { ...strict, metadata: { name: 'mesh', namespace: 'mesh-root' } });
      },
    });
    await waitFor('sync', () => available(s) !== undefined);
    assert.equal(broken(available(s) as MeshView).length, 0, 'mesh-root is not the root namespace of the default policy');
    s.policy = { ...s.policy, meshRootNamespace: 'mesh-root' };
    await waitFor('the model rebuilt for the reloaded policy', () => available(s) !== undefined);
    assert.equal(broken(available(s) as MeshView).length, 1, 'the mesh-wide STRICT policy counts once the root namespace is mesh-root');
  });
});

describe('slim copies', () => {
  const deployment = BUILT_IN_KINDS.find((k) => k.kind === 'Deployment');
  test('keep what the model reads, drop the rest; list items get apiVersion and kind', () => {
    assert.ok(deployment);
    const slim = slimObject(deployment, {
      metadata: { name: 'a', namespace: 'n', resourceVersion: '7', creationTimestamp: new Date('2026-01-02T03:04:05Z'), labels: { x: 'y' }, annotations: { big: 'x' }, managedFields: [{}] },
      spec: {
        replicas: 3,
        template: {
          metadata: { labels: { app: 'a' }, annotations: { 'sidecar.istio.io/inject': 'false', other: 'z' } },
          spec: { containers: [{ name: 'c', image: 'i', env: [], ports: [{ containerPort: 80, name: 'http', protocol: 'TCP' }] }], volumes: [{}] },
        },
      },
      status: { replicas: 3 },
    });
    assert.deepEqual(slim, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'a', namespace: 'n', resourceVersion: '7', creationTimestamp: '2026-01-02T03:04:05Z' },
      spec: {
        template: {
          metadata: { labels: { app: 'a' }, annotations: { 'sidecar.istio.io/inject': 'false' } },
          spec: { containers: [{ name: 'c', ports: [{ containerPort: 80, name: 'http' }] }], initContainers: [] },
        },
      },
    });
  });
});
