// `mtls-guard scan --kubeconfig` against the fake API server (test/server/cluster-fake-api.ts):
// the same objects scanned offline (-f, whole manifests) and live (listed, slimmed) print the same
// bytes in every output format; each kind is listed once; the Istio and optional kinds only when
// served; clear errors for an unreachable API server, a 403 (which kind, which RBAC) and -f with
// --kubeconfig; the built binary's --cluster flag uses the default kubeconfig search.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { runScan } from '../../src/cli/scan-run.js';
import type { ScanOptions, ScanOutput } from '../../src/cli/scan.js';
import { FakeApi, PATHS } from '../server/cluster-fake-api.js';
import { assertBuilt, BIN } from './run.js';

const NOW = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:01:00Z';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown } } & Record<string, unknown>;

const meta = (name: string, namespace: string | undefined, created = T0, extra: Record<string, unknown> = {}) => ({
  name,
  ...(namespace !== undefined && { namespace }),
  creationTimestamp: created,
  uid: `uid-${name}`,
  managedFields: [{ manager: 'kubectl', operation: 'Update' }],
  annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"a":"b"}' },
  ...extra,
});

function podTemplate(app: string, port: number, inject?: string): Record<string, unknown> {
  return {
    metadata: { labels: { app, version: 'v1' }, ...(inject !== undefined && { annotations: { 'sidecar.istio.io/inject': inject, 'prometheus.io/scrape': 'true' } }) },
    spec: { containers: [{ name: app, image: `${app}:1`, env: [{ name: 'X', value: 'y' }], ports: [{ containerPort: port, name: 'http', protocol: 'TCP' }], resources: {} }] },
  };
}

const service = (name: string, namespace: string, port: number, target: number | string = port): Obj => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: meta(name, namespace),
  spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: target, protocol: 'TCP' }], clusterIP: '10.0.0.1', type: 'ClusterIP' },
  status: { loadBalancer: {} },
});

/** A mesh with something of every kind: a broken flow (DISABLE to STRICT), plaintext, an authorization conflict. */
const MESH: { path: string; object: Obj }[] = [
  { path: PATHS.namespaces, object: { apiVersion: 'v1', kind: 'Namespace', metadata: meta('istio-system', undefined, T0, { labels: { 'kubernetes.io/metadata.name': 'istio-system' } }) } },
  { path: PATHS.namespaces, object: { apiVersion: 'v1', kind: 'Namespace', metadata: meta('shop', undefined, T0, { labels: { 'istio-injection': 'enabled' } }) } },
  { path: PATHS.namespaces, object: { apiVersion: 'v1', kind: 'Namespace', metadata: meta('legacy', undefined, T0, { labels: {} }) } },
  { path: PATHS.services, object: service('cart', 'shop', 80, 8080) },
  { path: PATHS.services, object: service('report', 'shop', 8081) },
  { path: PATHS.services, object: service('db', 'legacy', 5432, 'http') },
  { path: PATHS.services, object: service('billing', 'shop', 9000) },
  { path: PATHS.deployments, object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('cart-v1', 'shop'), spec: { replicas: 2, selector: { matchLabels: { app: 'cart' } }, template: podTemplate('cart', 8080) }, status: { replicas: 2 } } },
  { path: '/apis/apps/v1/statefulsets', object: { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: meta('db', 'legacy'), spec: { serviceName: 'db', template: podTemplate('db', 5432) } } },
  {
    path: PATHS.cronJobs,
    object: { apiVersion: 'batch/v1', kind: 'CronJob', metadata: meta('report', 'shop'), spec: { schedule: '0 * * * *', jobTemplate: { spec: { template: podTemplate('report', 8081, 'true') } } }, status: {} },
  },
  { path: PATHS.jobs, object: { apiVersion: 'batch/v1', kind: 'Job', metadata: meta('billing-once', 'shop'), spec: { template: podTemplate('billing', 9000, 'false') } } },
  { path: PATHS.deploymentConfigs, object: { apiVersion: 'apps.openshift.io/v1', kind: 'DeploymentConfig', metadata: meta('cart-dc', 'shop'), spec: { template: podTemplate('cart', 8080) } } },
  {
    path: '/apis/security.istio.io/v1/peerauthentications',
    object: { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: meta('default', 'istio-system'), spec: { mtls: { mode: 'STRICT' } } },
  },
  {
    path: '/apis/security.istio.io/v1/peerauthentications',
    object: { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: meta('report', 'shop', T1), spec: { selector: { matchLabels: { app: 'report' } }, mtls: { mode: 'PERMISSIVE' } } },
  },
  {
    path: '/apis/security.istio.io/v1/authorizationpolicies',
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta('report-deny', 'shop'),
      spec: { selector: { matchLabels: { app: 'report' } }, action: 'DENY', rules: [{ from: [{ source: { notNamespaces: ['shop'] } }] }] },
    },
  },
  {
    path: PATHS.destinationRules,
    object: { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta('cart', 'shop'), spec: { host: 'cart', trafficPolicy: { tls: { mode: 'DISABLE' } } } },
  },
  {
    path: PATHS.destinationRules,
    object: { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta('cart-old', 'shop', T1), spec: { host: 'cart.shop.svc.cluster.local', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } } },
  },
  {
    path: '/apis/networking.istio.io/v1/serviceentries',
    object: { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: meta('payments', 'shop'), spec: { hosts: ['pay.example.com'], ports: [{ number: 443, name: 'https', protocol: 'TLS' }], location: 'MESH_EXTERNAL' } },
  },
];

interface Captured {
  status: number;
  stdout: string;
  stderr: string;
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mtls-guard-scan-cluster-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function scan(opts: Partial<ScanOptions>): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: {},
    openStdin: async function* () {
      yield Buffer.from('');
    },
  };
  const status = await runScan({ output: 'table', namespace: 'default', color: false, ...opts }, io, NOW);
  return { status, stdout, stderr };
}

/** A kubeconfig file for `server` (a bearer token; the fake API server ignores it). */
async function kubeconfigFor(server: string, name = 'kubeconfig'): Promise<string> {
  const file = join(dir, name);
  await writeFile(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node refuses plain HTTP unless TLS verification is off (the fake API server is HTTP).
      clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'reader', user: { token: 'not-a-secret' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'reader' } }],
      'current-context': 'fake',
    }),
  );
  return file;
}

async function manifests(objects: readonly Obj[], name: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, objects.map((o) => stringify(o)).join('---\n'));
  return file;
}

async function fakeApi(options: { istio?: boolean; openshift?: boolean } = {}): Promise<FakeApi> {
  const api = new FakeApi({ istio: options.istio ?? true });
  await api.listen();
  if (options.openshift ?? true) api.serveGroup('apps.openshift.io', 'v1', [{ name: 'deploymentconfigs', kind: 'DeploymentConfig' }]);
  return api;
}

describe('scan --kubeconfig', () => {
  test('the same objects offline and live print the same bytes, for -o table, json and policyreport', async () => {
    const api = await fakeApi();
    try {
      for (const { path, object } of MESH) api.put(path, object);
      const kubeconfig = await kubeconfigFor(api.url);
      // The files in another order than the API server lists them: the order must not matter.
      const file = await manifests(
        MESH.map((m) => m.object).reverse(),
        'mesh.yaml',
      );
      for (const output of ['table', 'json', 'policyreport'] as ScanOutput[]) {
        const offline = await scan({ filename: [file], output });
        const live = await scan({ kubeconfig, output });
        assert.equal(live.stderr, '', live.stderr);
        assert.equal(offline.status, 1, `${output}: the DISABLE rule towards STRICT cart is a finding\n${offline.stderr}`);
        assert.equal(live.status, offline.status);
        assert.equal(live.stdout, offline.stdout, `-o ${output}`);
      }
      // What the mesh holds, so the equality above is about something: every workload kind is there.
      const json = JSON.parse((await scan({ kubeconfig, output: 'json' })).stdout) as { serverPorts: { workload: { kind: string; name: string } }[]; flows: { outcome: string; server: { workload: { name: string } } | null }[] };
      const workloads = new Set(json.serverPorts.map((p) => `${p.workload.kind}/${p.workload.name}`));
      for (const w of ['Deployment/cart-v1', 'DeploymentConfig/cart-dc', 'StatefulSet/db', 'CronJob/report', 'Job/billing-once']) assert.ok(workloads.has(w), `${w} in ${[...workloads].join(', ')}`);
      assert.ok(json.flows.some((f) => f.outcome === 'broken' && f.server?.workload.name === 'cart-v1'));
    } finally {
      await api.close();
    }
  });

  test('lists each served kind once (paging: cluster-kinds.test.ts); kinds not served are never listed', async () => {
    const api = await fakeApi({ istio: false, openshift: false });
    try {
      for (const { path, object } of MESH.filter((m) => !m.object.apiVersion.includes('istio.io') && !m.object.apiVersion.includes('openshift'))) api.put(path, object);
      const kubeconfig = await kubeconfigFor(api.url, 'kubeconfig-plain');
      const live = await scan({ kubeconfig, output: 'json' });
      const offline = await scan({ filename: [await manifests(MESH.map((m) => m.object).filter((o) => !o.apiVersion.includes('istio.io') && !o.apiVersion.includes('openshift')), 'plain.yaml')], output: 'json' });
      assert.equal(live.stdout, offline.stdout);
      const lists = api.requests.filter((r) => r.startsWith('/api/v1/') || /^\/apis\/[^/]+\/[^/]+\/[^/]+$/.test(r));
      assert.deepEqual(lists.sort(), [
        '/api/v1/namespaces',
        '/api/v1/services',
        '/apis/apps/v1/daemonsets',
        '/apis/apps/v1/deployments',
        '/apis/apps/v1/statefulsets',
        '/apis/batch/v1/cronjobs',
        '/apis/batch/v1/jobs',
      ]);
      assert.ok(!api.requests.some((r) => r.includes('?watch')), 'scan never watches');
    } finally {
      await api.close();
    }
  });

  test('a policy workload kind served by the cluster is read at its templatePath', async () => {
    const api = await fakeApi({ openshift: false });
    try {
      const webApp: Obj = { apiVersion: 'platform.example.com/v1', kind: 'WebApp', metadata: meta('store', 'shop'), spec: { runtime: { podTemplate: podTemplate('store', 7070) } } };
      const objects = [MESH[1]?.object as Obj, service('store', 'shop', 7070), webApp];
      api.put(PATHS.namespaces, objects[0] as Obj);
      api.put(PATHS.services, objects[1] as Obj);
      api.serveGroup('platform.example.com', 'v1', [{ name: 'webapps', kind: 'WebApp' }]);
      api.put('/apis/platform.example.com/v1/webapps', webApp);
      const config = join(dir, 'policy.yaml');
      await writeFile(config, stringify({ workloadKinds: [{ group: 'platform.example.com', kind: 'WebApp', resource: 'webapps', templatePath: 'spec.runtime.podTemplate' }] }));
      const kubeconfig = await kubeconfigFor(api.url, 'kubeconfig-webapp');
      const live = await scan({ kubeconfig, config });
      assert.equal(live.stdout, (await scan({ filename: [await manifests(objects, 'webapp.yaml')], config })).stdout);
      assert.match(live.stdout, /^shop +WebApp\/store +7070 +sidecar /m);
      assert.ok(api.requests.includes('/apis/platform.example.com/v1/webapps'));
    } finally {
      await api.close();
    }
  });

  test('403 on a kind: exit 2, nothing on stdout, the kind and the RBAC it needs named', async () => {
    const api = await fakeApi();
    try {
      api.forbid(PATHS.cronJobs);
      api.forbid(PATHS.destinationRules);
      const r = await scan({ kubeconfig: await kubeconfigFor(api.url, 'kubeconfig-403') });
      assert.equal(r.status, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^error: cannot list cronjobs \(batch\/v1 CronJob\): forbidden \(403\): .*cronjobs is forbidden.*; the credentials need get and list on cronjobs in API group "batch" /m);
      assert.match(r.stderr, /^error: cannot list destinationrules \(networking\.istio\.io\/v1 DestinationRule\): forbidden \(403\): .*API group "networking\.istio\.io"/m);
      assert.match(r.stderr, /mtls-guard scan: could not read the cluster; nothing was scanned\n$/);
    } finally {
      await api.close();
    }
  });

  test('an API server that is not there: one clear line, exit 2', async () => {
    const api = await fakeApi();
    const url = api.url;
    await api.close();
    const r = await scan({ kubeconfig: await kubeconfigFor(url, 'kubeconfig-gone') });
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('error: ')).length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: cannot reach the API server at ${url.replace(/\./g, '\\.')}: connect ECONNREFUSED`, 'm'));
  });

  test('-f with --kubeconfig is refused; a missing kubeconfig is named', async () => {
    const both = await scan({ kubeconfig: join(dir, 'any'), filename: [join(dir, 'mesh.yaml')] });
    assert.equal(both.status, 2);
    assert.equal(both.stdout, '');
    assert.match(both.stderr, /^error: -f reads manifests and --kubeconfig reads a live cluster: give one of them/m);
    const missing = await scan({ kubeconfig: join(dir, 'no-such-kubeconfig') });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^error: --kubeconfig .*no-such-kubeconfig: cannot load the kubeconfig: .*ENOENT/m);
  });
});

describe('the built binary', () => {
  test('scan --cluster reads the default kubeconfig (KUBECONFIG) and prints what scan -f prints', async () => {
    assertBuilt();
    const api = await fakeApi();
    try {
      for (const { path, object } of MESH) api.put(path, object);
      const kubeconfig = await kubeconfigFor(api.url, 'kubeconfig-bin');
      const file = await manifests(
        MESH.map((m) => m.object),
        'bin.yaml',
      );
      // Asynchronous: the fake API server answers from this process while the binary runs.
      const exec = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
        new Promise((resolve) => {
          execFile(process.execPath, [BIN, ...args], { env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1' }, timeout: 30_000 }, (err, stdout, stderr) => {
            resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr });
          });
        });
      const live = await exec(['scan', '--cluster', '-o', 'json']);
      const offline = await exec(['scan', '-f', file, '-o', 'json']);
      assert.equal(live.stderr, '');
      assert.equal(live.code, 1);
      assert.equal(live.stdout, offline.stdout);
      const nowhere = await new Promise<{ code: number; stderr: string }>((resolve) => {
        const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir };
        delete env['KUBECONFIG'];
        delete env['KUBERNETES_SERVICE_HOST'];
        execFile(process.execPath, [BIN, 'scan', '--cluster'], { env, timeout: 30_000 }, (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stderr }));
      });
      assert.equal(nowhere.code, 2);
      assert.match(nowhere.stderr, /^error: --cluster: no credentials found: KUBECONFIG is not set, ~\/\.kube\/config does not exist/m);
      const refused = await exec(['scan', '--cluster', '-f', file]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /-f reads manifests and --cluster reads a live cluster/);
    } finally {
      await api.close();
    }
  });
});
