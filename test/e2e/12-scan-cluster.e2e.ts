// `mtls-guard scan --kubeconfig` through the real API server, with a token of the chart's
// ServiceAccount (so the chart's read-only ClusterRole is proven enough for scan too): a namespace
// the webhook ignores holds a Deployment, a Job and a CronJob (sidecar annotations, container
// ports), their Services, a namespace-wide STRICT PeerAuthentication and a DestinationRule DISABLE
// towards the Deployment (a broken flow). The live scan must print, byte for byte, what `scan -f`
// prints for the same objects: those `kubectl get -A -o yaml` returns for every kind scan reads
// (the cluster also holds the other scenarios' objects, kube-system and the release, and the
// client groups list every namespace, so the dump of the cluster is "the same objects"); and a
// scan of this namespace's manifests alone finds the same workloads and conflict. A token without
// RBAC gets exit 2 naming the kind and the grant it lacks. The chart's rendered ClusterRole gains
// the policy's workloadKinds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { e2eEnv } from './lib/env.js';
import { destinationRule, peerAuthentication, SIDECAR_ANNOTATIONS, yamlDocs, type Manifest } from './lib/manifests.js';
import { helm, kubectl, show } from './lib/tools.js';

const NS = 'e2e-scan';
/** Every kind scan reads that this cluster serves (Rollouts: no CRD here). */
const KINDS = 'namespaces,services,deployments,statefulsets,daemonsets,jobs,cronjobs,deploymentconfigs,peerauthentications,authorizationpolicies,destinationrules,serviceentries';

function template(app: string, port: number): Record<string, unknown> {
  return {
    metadata: { labels: { app }, annotations: { 'sidecar.istio.io/inject': 'true', ...SIDECAR_ANNOTATIONS } },
    spec: { restartPolicy: 'OnFailure', containers: [{ name: app, image: `registry.example/${app}:1.0`, ports: [{ containerPort: port, name: 'http' }] }] },
  };
}

function service(name: string, port: number): Manifest {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { selector: { app: name }, ports: [{ name: 'http', port }] } };
}

const deploymentTemplate = { ...template('api', 8080), spec: { containers: [{ name: 'api', image: 'registry.example/api:1.0', ports: [{ containerPort: 8080, name: 'http' }] }] } };
const MANIFESTS: Manifest[] = [
  // mtls-guard.io/ignore: the webhook does not judge this namespace, so the conflict can be stored.
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'istio-injection': 'enabled', 'mtls-guard.io/ignore': 'true' } } },
  service('api', 8080),
  service('report', 8081),
  service('migrate', 9000),
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: NS }, spec: { selector: { matchLabels: { app: 'api' } }, template: deploymentTemplate } },
  { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'report', namespace: NS }, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: template('report', 8081) } } } },
  { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate', namespace: NS }, spec: { template: template('migrate', 9000) } },
  peerAuthentication(NS, 'default', { mtls: { mode: 'STRICT' } }),
  destinationRule(NS, 'api-plaintext', 'api'),
];

interface Scan {
  status: number | null;
  stdout: string;
  stderr: string;
}

function scan(args: readonly string[]): Scan {
  const env = e2eEnv();
  const r = spawnSync(process.execPath, [join(env.root, 'bin', 'mtls-guard.js'), 'scan', ...args], {
    cwd: env.root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const showScan = (r: Scan): string => `(exit ${String(r.status)})\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;

/** A kubeconfig for the API server with a token of `serviceAccount` (TokenRequest, 1 h). */
function tokenKubeconfig(serviceAccount: string, namespace: string, file: string): string {
  const env = e2eEnv();
  const token = kubectl(['create', 'token', serviceAccount, '--namespace', namespace, '--duration', '1h']);
  assert.equal(token.status, 0, show(token));
  const admin = parse(readFileSync(env.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[] };
  const cluster = admin.clusters[0]?.cluster;
  assert.ok(cluster);
  const path = join(env.work, file);
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': cluster['certificate-authority-data'] } }],
      users: [{ name: serviceAccount, user: { token: token.stdout.trim() } }],
      contexts: [{ name: serviceAccount, context: { cluster: 'e2e', user: serviceAccount } }],
      'current-context': serviceAccount,
    }),
    { mode: 0o600 },
  );
  return path;
}

describe('scan --kubeconfig: the live mesh, as scan -f prints it', () => {
  let reader: string;

  before(() => {
    const env = e2eEnv();
    const applied = kubectl(['apply', '-f', '-'], { input: yamlDocs(...MANIFESTS) });
    assert.equal(applied.status, 0, show(applied));
    reader = tokenKubeconfig(env.release, env.releaseNamespace, 'scan-reader.kubeconfig');
  });

  it("the chart's ServiceAccount reads every kind; each -o format is byte-identical to scan -f of the cluster's objects", () => {
    const env = e2eEnv();
    const dump = kubectl(['get', KINDS, '--all-namespaces', '-o', 'yaml']);
    assert.equal(dump.status, 0, show(dump));
    const file = join(env.work, 'scan-cluster-dump.yaml');
    writeFileSync(file, dump.stdout);
    for (const output of ['table', 'json', 'policyreport']) {
      const live = scan(['--kubeconfig', reader, '-o', output]);
      const offline = scan(['-f', file, '-o', output]);
      assert.equal(live.stderr, '', showScan(live));
      assert.equal(live.status, 1, `the DestinationRule DISABLE towards STRICT api is a finding\n${showScan(live)}`);
      assert.equal(live.status, offline.status, showScan(offline));
      // PolicyReports carry the time of the scan: compare them without it.
      const strip = (text: string): string => text.replace(/(timestamp:\n +seconds: )\d+(\n +nanos: )\d+/g, '$1S$2N');
      assert.equal(strip(live.stdout), strip(offline.stdout), `-o ${output}`);
    }
  });

  it('finds the Job, the CronJob and the conflict this namespace holds, as a scan of its manifests does', () => {
    const live = JSON.parse(scan(['--kubeconfig', reader, '-o', 'json']).stdout) as ScanJson;
    const file = join(e2eEnv().work, 'scan-cluster-manifests.yaml');
    writeFileSync(file, yamlDocs(...MANIFESTS));
    const offline = JSON.parse(scan(['-f', file, '-o', 'json']).stdout) as ScanJson;
    const here = (s: ScanJson): string[] =>
      s.serverPorts
        .filter((p) => p.workload.namespace === NS)
        .map((p) => `${p.workload.kind}/${p.workload.name}:${p.port} ${p.mode} sidecar=${String(p.sidecar)} failing=${p.failingFrom.length}`)
        .sort();
    assert.deepEqual(here(live), here(offline));
    assert.deepEqual(here(live), ['CronJob/report:8081 STRICT sidecar=true failing=0', 'Deployment/api:8080 STRICT sidecar=true failing=1', 'Job/migrate:9000 STRICT sidecar=true failing=0']);
    const broken = live.flows.filter((f) => f.outcome === 'broken' && f.server?.workload.namespace === NS);
    assert.deepEqual(broken.map((f) => `${f.host}:${f.servicePort} ${f.clientTlsFrom?.name ?? ''}`), [`api.${NS}.svc.cluster.local:8080 api-plaintext`]);
  });

  it('a token without the RBAC: exit 2 naming the kind and the grant it lacks, nothing on stdout', () => {
    const created = kubectl(['create', 'serviceaccount', 'no-mesh-reader', '--namespace', NS]);
    assert.ok(created.status === 0 || /already exists/.test(created.stderr), show(created));
    const r = scan(['--kubeconfig', tokenKubeconfig('no-mesh-reader', NS, 'scan-noaccess.kubeconfig')]);
    assert.equal(r.status, 2, showScan(r));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: cannot list namespaces \(v1 Namespace\): forbidden \(403\): .*namespaces is forbidden.*; the credentials need get and list on namespaces in API group ""/m);
    assert.match(r.stderr, /^error: cannot list cronjobs \(batch\/v1 CronJob\): forbidden \(403\)/m);
    assert.match(r.stderr, /mtls-guard scan: could not read the cluster; nothing was scanned\n$/);
  });

  it("the chart's ClusterRole: read-only on the new kinds and on the policy's workloadKinds", () => {
    const env = e2eEnv();
    const kinds = JSON.stringify([{ group: 'platform.example.com', kind: 'WebApp', resource: 'webapps', templatePath: 'spec.template' }]);
    const r = helm(['template', 'rel', env.chart, '--namespace', 'guard', '--set', 'certificates.mode=secret', '--set', 'webhook.caBundle=Q0E=', '--set-json', `policy.workloadKinds=${kinds}`, '--show-only', 'templates/rbac.yaml']);
    assert.equal(r.status, 0, show(r));
    const role = parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as { kind?: string; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] })
      .find((d) => d.kind === 'ClusterRole');
    assert.ok(role?.rules);
    const byGroup = Object.fromEntries(role.rules.map((rule) => [rule.apiGroups.join(','), [...rule.resources].sort()]));
    assert.deepEqual(byGroup['batch'], ['cronjobs', 'jobs']);
    assert.deepEqual(byGroup['apps.openshift.io'], ['deploymentconfigs']);
    assert.deepEqual(byGroup['argoproj.io'], ['rollouts']);
    assert.deepEqual(byGroup['platform.example.com'], ['webapps']);
    assert.deepEqual([...new Set(role.rules.flatMap((rule) => rule.verbs))].sort(), ['get', 'list', 'watch']);
    const wide = helm(['template', 'rel', env.chart, '--namespace', 'guard', '--set', 'certificates.mode=secret', '--set', 'webhook.caBundle=Q0E=', '--set-json', 'policy.workloadKinds=[{"group":"","kind":"Everything","resource":"*","templatePath":"spec.template"}]']);
    assert.notEqual(wide.status, 0, 'a wildcard resource must not widen the role');
    assert.match(wide.stderr, /policy\.workloadKinds: group "" resource "\*": a workload kind names one group and one resource/);
  });
});

interface ScanJson {
  serverPorts: { workload: { kind: string; namespace: string; name: string }; port: number; mode: string; sidecar: boolean; failingFrom: unknown[] }[];
  flows: { outcome: string; host: string; servicePort: number; clientTlsFrom: { name: string } | null; server: { workload: { namespace: string } } | null }[];
}
