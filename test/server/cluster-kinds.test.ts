// Cluster mode's workload kinds beyond apps/v1, against the fake API server (cluster-fake-api.ts)
// through client-node's real informer: a CronJob's pods are servers as `check`/`scan` read them
// (the slim copy keeps spec.jobTemplate.spec.template), the policy's workloadKinds are watched
// from a reload on and dropped (objects leaving the model) when a reload removes them, and a
// DeploymentConfig CRD installed after start is found by the periodic discovery.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { defaultPolicy, policySchema, type Policy } from '../../src/engine/index.js';
import { MeshModel, type ServerPort } from '../../src/mesh/index.js';
import { listSlim } from '../../src/server/cluster-api.js';
import { BUILT_IN_KINDS, optionalKinds, policyWorkloadKinds, slimObject, type WatchedKind } from '../../src/server/cluster-kinds.js';
import { startClusterState, type ClusterState } from '../../src/server/cluster-state.js';
import { createMetrics, type Metrics } from '../../src/server/metrics.js';
import { FakeApi, PATHS } from './cluster-fake-api.js';
import { memoryLogger, waitFor } from './helpers.js';

const NS = 'batch-ns';
const WEBAPP = { group: 'platform.example.com', kind: 'WebApp', resource: 'webapps', templatePath: 'spec.runtime.podTemplate' };
const WEBAPPS = '/apis/platform.example.com/v1/webapps';

function template(app: string, port: number): Record<string, unknown> {
  return {
    metadata: { labels: { app }, annotations: { 'sidecar.istio.io/inject': 'true', 'example.com/other': 'dropped' } },
    spec: { containers: [{ name: app, image: `${app}:1`, env: [{ name: 'TOKEN', value: 'not kept' }], ports: [{ containerPort: port, name: 'http', protocol: 'TCP' }] }], restartPolicy: 'Never' },
  };
}

const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'istio-injection': 'enabled' } } };
const service = (name: string, port: number) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: port }] },
});
const cronJob = {
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'report', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{ manager: 'kubectl' }] },
  spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { backoffLimit: 1, template: template('report', 8080) } } },
  status: { lastScheduleTime: '2026-01-01T00:05:00Z' },
};
const job = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'migrate', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { template: template('migrate', 9000) },
};
const strict = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { mtls: { mode: 'STRICT' } } };
const disableRule = (host: string) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name: host, namespace: NS },
  spec: { host, trafficPolicy: { tls: { mode: 'DISABLE' } } },
});
const webApp = {
  apiVersion: 'platform.example.com/v1',
  kind: 'WebApp',
  metadata: { name: 'shop', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { runtime: { podTemplate: template('shop', 8443) } },
};
const deploymentConfig = {
  apiVersion: 'apps.openshift.io/v1',
  kind: 'DeploymentConfig',
  metadata: { name: 'legacy', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { replicas: 1, template: template('legacy', 7000) },
};

interface Setup {
  api: FakeApi;
  state: ClusterState;
  metrics: Metrics;
  policy: { current: Policy };
}

const running: Setup[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) {
    await s.state.close();
    await s.api.close();
  }
});

async function setup(fill: (api: FakeApi) => void, policy: Policy = defaultPolicy()): Promise<Setup> {
  const api = new FakeApi();
  await api.listen();
  fill(api);
  const metrics = createMetrics();
  const holder = { current: policy };
  const state = startClusterState(
    { getPolicy: () => holder.current, logger: memoryLogger().logger, metrics, backoff: { initialMs: 20, maxMs: 200 }, rediscoverMs: 100, gaugeIntervalMs: 50 },
    api.kubeConfig(),
  );
  const s = { api, state, metrics, policy: holder };
  running.push(s);
  return s;
}

/** The model behind the engine's MeshView (cluster mode hands out its MeshModel). */
function mesh(s: Setup): MeshModel | undefined {
  const now = s.state.current(s.policy.current);
  if (!now.ok) return undefined;
  assert.ok(now.mesh instanceof MeshModel);
  return now.mesh;
}

function kinds(s: Setup): string[] {
  return Object.keys((s.state.status() as { kinds: Record<string, unknown> }).kinds).sort();
}

function servers(view: MeshModel | undefined): string[] {
  return (view?.serverPorts() ?? []).map((p: ServerPort) => `${p.workload.kind}/${p.workload.name}:${p.port}`).sort();
}

async function objectsMetric(metrics: Metrics, kind: string): Promise<number | undefined> {
  const m = metrics.registry.getSingleMetric('mtls_guard_mesh_objects');
  assert.ok(m);
  return (await m.get()).values.find((v) => v.labels['kind'] === kind)?.value;
}

const withWebApps = (): Policy => policySchema.parse({ workloadKinds: [WEBAPP] });

describe('slim copies of the workload kinds', () => {
  const kind = (name: string): WatchedKind => {
    const k = BUILT_IN_KINDS.find((b) => b.kind === name);
    assert.ok(k, name);
    return k;
  };

  test("a CronJob keeps its pod template at spec.jobTemplate.spec.template, and only what the model reads", () => {
    assert.deepEqual(slimObject(kind('CronJob'), cronJob), {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'report', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: {
        jobTemplate: {
          spec: {
            template: {
              metadata: { labels: { app: 'report' }, annotations: { 'sidecar.istio.io/inject': 'true' } },
              spec: { containers: [{ name: 'report', ports: [{ containerPort: 8080, name: 'http' }] }], initContainers: [] },
            },
          },
        },
      },
    });
  });

  test('a policy workload kind keeps its template at its templatePath, also outside spec', () => {
    const [webapps] = policyWorkloadKinds([WEBAPP]);
    assert.ok(webapps);
    const slim = slimObject({ ...webapps, version: 'v1' }, webApp);
    assert.deepEqual(Object.keys(slim?.['spec'] as object), ['runtime']);
    const model = MeshModel.build([namespace, service('shop', 8443), slim], withWebApps());
    assert.deepEqual(servers(model), ['WebApp/shop:8443']);
    const [topLevel] = policyWorkloadKinds([{ ...WEBAPP, templatePath: 'template' }]);
    assert.ok(topLevel);
    const slimTop = slimObject({ ...topLevel, version: 'v1' }, { metadata: { name: 'x', namespace: NS }, template: template('x', 1), spec: { big: 'dropped' } });
    assert.deepEqual(slimTop?.['template'], { metadata: { labels: { app: 'x' }, annotations: { 'sidecar.istio.io/inject': 'true' } }, spec: { containers: [{ name: 'x', ports: [{ containerPort: 1, name: 'http' }] }], initContainers: [] } });
    assert.equal(slimTop?.spec, undefined);
  });

  test('workloadKinds the engine already knows, or whose path starts at metadata, are not watched twice or at all', () => {
    const known = policyWorkloadKinds([
      { group: 'apps', kind: 'Deployment', resource: 'deployments', templatePath: 'spec.template' },
      { group: 'argoproj.io', kind: 'Rollout', resource: 'rollouts', templatePath: 'spec.template' },
      { group: 'example.com', kind: 'Odd', resource: 'odds', templatePath: 'metadata.annotations' },
      WEBAPP,
      WEBAPP,
    ]);
    assert.deepEqual(known.map((k) => k.kind), ['WebApp']);
    assert.deepEqual(optionalKinds([]).map((k) => k.kind), ['PeerAuthentication', 'AuthorizationPolicy', 'DestinationRule', 'ServiceEntry', 'DeploymentConfig', 'Rollout']);
  });
});

describe('cluster mode: Jobs, CronJobs, DeploymentConfigs, Rollouts and the policy workload kinds', () => {
  test("a CronJob's and a Job's pods are judged as check judges them: the same flows as the offline model", async () => {
    const objects = [namespace, service('report', 8080), service('migrate', 9000), cronJob, job, strict];
    const s = await setup((api) => {
      api.put(PATHS.namespaces, namespace);
      api.put(PATHS.services, service('report', 8080));
      api.put(PATHS.services, service('migrate', 9000));
      api.put(PATHS.cronJobs, cronJob);
      api.put(PATHS.jobs, job);
      api.put('/apis/security.istio.io/v1/peerauthentications', strict);
    });
    await waitFor('sync', () => mesh(s) !== undefined);
    assert.deepEqual(kinds(s), ['AuthorizationPolicy', 'CronJob', 'DaemonSet', 'Deployment', 'DestinationRule', 'Job', 'Namespace', 'PeerAuthentication', 'Service', 'ServiceEntry', 'StatefulSet']);
    const live = mesh(s);
    assert.ok(live);
    const offline = MeshModel.build(objects, defaultPolicy());
    assert.deepEqual(servers(live), ['CronJob/report:8080', 'Job/migrate:9000']);
    assert.deepEqual(live.serverPorts(), offline.serverPorts());
    for (const host of ['report', 'migrate']) {
      const flows = live.destinationRuleFlows(disableRule(host), NS, host);
      assert.deepEqual(flows, offline.destinationRuleFlows(disableRule(host), NS, host));
      const broken = flows.filter((f) => f.outcome === 'broken');
      assert.ok(broken.length > 0, `a DISABLE rule towards the STRICT ${host} pods breaks calls`);
      assert.equal(broken[0]?.server?.setBy?.ref.name, 'default');
    }
    // Watch events reach the model: the CronJob's pods no longer carry the Service's label.
    s.api.put(PATHS.cronJobs, { ...cronJob, spec: { ...cronJob.spec, jobTemplate: { spec: { template: template('report-v2', 8080) } } } });
    await waitFor('the CronJob update in the model', () => mesh(s)?.destinationRuleFlows(disableRule('report'), NS, 'report').some((f) => f.outcome === 'broken') === false);
  });

  test('a reload that adds a workload kind starts its watch; one that removes it stops it and its objects leave the model', async () => {
    const s = await setup((api) => {
      api.put(PATHS.namespaces, namespace);
      api.put(PATHS.services, service('shop', 8443));
      api.serveGroup('platform.example.com', 'v1', [{ name: 'webapps', kind: 'WebApp' }]);
      api.put(WEBAPPS, webApp);
    });
    await waitFor('sync', () => mesh(s) !== undefined);
    assert.ok(!kinds(s).includes('WebApp'));
    assert.ok(!s.api.requests.includes(WEBAPPS), 'a kind the policy does not list is never listed');

    s.policy.current = withWebApps();
    await waitFor('the WebApp watch to start and sync', () => kinds(s).includes('WebApp') && mesh(s) !== undefined, 5000);
    await waitFor('the WebApp in the model', () => servers(mesh(s)).includes('WebApp/shop:8443'));
    assert.equal(await objectsMetric(s.metrics, 'WebApp'), 1);

    s.policy.current = defaultPolicy();
    await waitFor('the WebApp watch to stop', () => !kinds(s).includes('WebApp'), 5000);
    assert.deepEqual(servers(mesh(s)), []);
    assert.equal(await objectsMetric(s.metrics, 'WebApp'), undefined, 'its gauge is removed, not left at a stale count');
    // Stopped means stopped: a change to a WebApp no longer reaches anything.
    const listed = s.api.requests.filter((r) => r.startsWith(WEBAPPS)).length;
    s.api.put(WEBAPPS, { ...webApp, metadata: { ...webApp.metadata, name: 'shop-2' } });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(s.api.requests.filter((r) => r.startsWith(WEBAPPS)).length, listed);
  });

  test('a reload that changes only other keys does not restart anything', async () => {
    const s = await setup((api) => {
      api.serveGroup('platform.example.com', 'v1', [{ name: 'webapps', kind: 'WebApp' }]);
      api.put(WEBAPPS, webApp);
    }, withWebApps());
    await waitFor('sync', () => mesh(s) !== undefined && kinds(s).includes('WebApp'));
    const lists = (): number => s.api.requests.filter((r) => r === WEBAPPS).length;
    const before = lists();
    s.policy.current = policySchema.parse({ workloadKinds: [WEBAPP], mode: 'audit' });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(lists(), before, 'no re-list of the WebApps');
    assert.ok(mesh(s) !== undefined);
  });

  test('a DeploymentConfig CRD installed after start is found and watched; removed, it stops', async () => {
    const s = await setup((api) => {
      api.put(PATHS.namespaces, namespace);
      api.put(PATHS.services, service('legacy', 7000));
    });
    await waitFor('sync', () => mesh(s) !== undefined);
    const status = s.state.status() as { absent?: string[] };
    assert.ok(status.absent?.includes('DeploymentConfig') && status.absent.includes('Rollout'));
    assert.ok(!kinds(s).includes('DeploymentConfig'));

    s.api.serveGroup('apps.openshift.io', 'v1', [{ name: 'deploymentconfigs', kind: 'DeploymentConfig' }]);
    s.api.put(PATHS.deploymentConfigs, deploymentConfig);
    await waitFor('the DeploymentConfig to be discovered and synced', () => kinds(s).includes('DeploymentConfig') && mesh(s) !== undefined, 5000);
    await waitFor('the DeploymentConfig in the model', () => servers(mesh(s)).includes('DeploymentConfig/legacy:7000'));
    assert.ok(!(s.state.status() as { absent?: string[] }).absent?.includes('DeploymentConfig'));

    s.api.withdrawGroup('apps.openshift.io');
    await waitFor('the DeploymentConfig watch to stop', () => !kinds(s).includes('DeploymentConfig'), 5000);
    assert.deepEqual(servers(mesh(s)), [], 'its objects left the model: the mesh stays available');
  });
});

describe('listSlim', () => {
  test('pages through limit/continue and keeps every object', async () => {
    const api = new FakeApi();
    await api.listen();
    try {
      for (let i = 0; i < 1203; i++) api.put(PATHS.services, service(`svc-${i}`, 80));
      const kind = BUILT_IN_KINDS.find((k) => k.kind === 'Service');
      assert.ok(kind);
      const list = await listSlim(api.kubeConfig(), kind);
      assert.equal(list.items.length, 1203);
      assert.equal(new Set(list.items.map((o) => o.metadata.name)).size, 1203);
      assert.equal(api.pages, 3, 'pages of 500');
    } finally {
      await api.close();
    }
  });
});
