// The server's PolicyReports through the real API server: the server runs in cluster mode with a
// token of the chart's own ServiceAccount (so the chart's ClusterRoles, rbac.yaml and
// rbac-policyreports.yaml, are what it reads and writes with), the wgpolicyk8s.io CRDs installed
// by e2e.sh. A small mesh in two namespaces (a client namespace whose DestinationRule DISABLE,
// created first, now meets a STRICT PeerAuthentication made after it) gives results in both; the
// reports the server writes must equal, results and summary (timestamps aside), what
// `mtls-guard scan -o policyreport` prints offline for the same objects, read back from the
// cluster (every object of every kind the server watches, as `kubectl get -o yaml` gives them).
// Deleting the conflicting rule: the client namespace's report goes, the rest follows the scan.
// Reports without mtls-guard's label, one even with its report name, are never touched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { ensureNamespace, waitFor } from './lib/cluster.js';
import { e2eEnv } from './lib/env.js';
import { deployment, destinationRule, peerAuthentication, yamlDocs, type Manifest } from './lib/manifests.js';
import { basePolicy, restoreBasePolicy, startServer, stopServer, waitForWebhooks, writePolicy } from './lib/server.js';
import { helm, kubectl, show } from './lib/tools.js';

const SERVERS = 'e2e-reports-servers';
const CLIENTS = 'e2e-reports-clients';
const BYSTANDER = 'e2e-reports-bystander';
const REPORT = 'mtls-guard-mesh';
const LABEL = 'app.kubernetes.io/managed-by=mtls-guard';

/** kubectl resource of each kind the server may watch (its informers name the kinds in /metrics). */
const RESOURCES: Record<string, string> = {
  Namespace: 'namespaces',
  Service: 'services',
  Deployment: 'deployments.apps',
  StatefulSet: 'statefulsets.apps',
  DaemonSet: 'daemonsets.apps',
  Job: 'jobs.batch',
  CronJob: 'cronjobs.batch',
  DeploymentConfig: 'deploymentconfigs.apps.openshift.io',
  Rollout: 'rollouts.argoproj.io',
  PeerAuthentication: 'peerauthentications.security.istio.io',
  AuthorizationPolicy: 'authorizationpolicies.security.istio.io',
  DestinationRule: 'destinationrules.networking.istio.io',
  ServiceEntry: 'serviceentries.networking.istio.io',
};

interface Report {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  summary?: Record<string, number>;
  results?: Record<string, unknown>[];
}

function service(namespace: string, name: string): Manifest {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] } };
}

function workload(namespace: string, name: string): Manifest {
  const d = deployment(namespace, name);
  const spec = d['spec'] as { template: { spec: { containers: Record<string, unknown>[] } } };
  spec.template.spec.containers = [{ name, image: `registry.example/${name}:1.0`, ports: [{ containerPort: 9080 }] }];
  return d;
}

function apply(docs: Manifest[]): void {
  const r = kubectl(['apply', '-f', '-'], { input: yamlDocs(...docs) });
  assert.equal(r.status, 0, show(r));
}

/** The kinds the server's informers watch, from its /metrics. */
async function watchedKinds(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${e2eEnv().metricsPort}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^mtls_guard_informer_synced\{[^}]*kind="([^"]+)"[^}]*\}\s+(\S+)$/gm)) out.set(m[1] ?? '', Number(m[2]));
  return out;
}

/** Our reports in the cluster, by namespace ('' for the ClusterPolicyReport). */
function clusterReports(): Map<string, Report> {
  const out = new Map<string, Report>();
  for (const resource of ['policyreports.wgpolicyk8s.io', 'clusterpolicyreports.wgpolicyk8s.io']) {
    const r = kubectl(['get', resource, '-A', '-l', LABEL, '-o', 'json']);
    assert.equal(r.status, 0, show(r));
    for (const item of (JSON.parse(r.stdout) as { items: Report[] }).items) if (item.metadata.name === REPORT) out.set(item.metadata.namespace ?? '', item);
  }
  return out;
}

/**
 * `mtls-guard scan -o policyreport` on the objects of every kind the server watches, as the
 * cluster holds them now, with the policy the server runs with. By namespace.
 */
async function scannedReports(): Promise<Map<string, Report>> {
  const env = e2eEnv();
  const kinds = [...(await watchedKinds()).keys()];
  const unknown = kinds.filter((k) => !RESOURCES[k]);
  assert.deepEqual(unknown, [], 'a kind the server watches that this test cannot read back: add it to RESOURCES');
  const dump = kubectl(['get', kinds.map((k) => RESOURCES[k]).join(','), '-A', '-o', 'yaml']);
  assert.equal(dump.status, 0, show(dump));
  const file = join(env.work, 'reports-objects.yaml');
  writeFileSync(file, dump.stdout);
  const scan = spawnSync(process.execPath, [join(env.root, 'bin', 'mtls-guard.js'), 'scan', '-o', 'policyreport', '--config', env.policyFile, '-f', file], { encoding: 'utf8', timeout: 60_000 });
  assert.ok(scan.status === 0 || scan.status === 1, `scan failed (exit ${String(scan.status)}):\n${scan.stderr}`);
  const out = new Map<string, Report>();
  for (const doc of parseAllDocuments(scan.stdout)) {
    const r = doc.toJS() as Report | null;
    if (r) out.set(r.metadata.namespace ?? '', r);
  }
  return out;
}

/** Summary and results without their timestamps: what must match. */
function content(r: Report | undefined): unknown {
  if (!r) return undefined;
  return { kind: r.kind, labels: r.metadata.labels, summary: r.summary, results: (r.results ?? []).map(({ timestamp: _t, ...rest }) => rest) };
}

/** Waits until the cluster's reports equal the scan's (every namespace); returns both. */
async function reportsMatchScan(what: string): Promise<Map<string, Report>> {
  let last = '';
  let have = new Map<string, Report>();
  try {
    await waitFor(
      what,
      async () => {
        const want = await scannedReports();
        have = clusterReports();
        const keys = [...new Set([...want.keys(), ...have.keys()])].sort();
        // deepStrictEqual: the same keys and values, whatever their order (the API server sorts them).
        const differ = keys.filter((k) => !isDeepEqual(content(want.get(k)), content(have.get(k))));
        last = differ.map((k) => `${k || '(cluster)'}: scan ${JSON.stringify(content(want.get(k)))}\n  server ${JSON.stringify(content(have.get(k)))}`).join('\n');
        return differ.length === 0;
      },
      90_000,
      2000,
    );
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; last difference:\n${last}`, { cause: err });
  }
  return have;
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

function getReport(namespace: string, name: string): Report | undefined {
  const r = kubectl(['get', 'policyreports.wgpolicyk8s.io', name, '-n', namespace, '-o', 'json']);
  return r.status === 0 ? (JSON.parse(r.stdout) as Report) : undefined;
}

const foreignSameName = { apiVersion: 'wgpolicyk8s.io/v1alpha2', kind: 'PolicyReport', metadata: { name: REPORT, namespace: BYSTANDER }, summary: { pass: 3, fail: 0, warn: 0, error: 0, skip: 0 }, results: [] };
const otherTool = {
  apiVersion: 'wgpolicyk8s.io/v1alpha2',
  kind: 'PolicyReport',
  metadata: { name: 'other-tool', namespace: SERVERS, labels: { 'app.kubernetes.io/managed-by': 'other-tool' } },
  summary: { pass: 0, fail: 1, warn: 0, error: 0, skip: 0 },
  results: [],
};

const conflicting = destinationRule(CLIENTS, 'reviews-plaintext', `reviews.${SERVERS}.svc.cluster.local`);

describe('cluster mode: PolicyReports kept in the cluster', () => {
  const untouched: { name: string; namespace: string; resourceVersion?: string }[] = [];

  before(async () => {
    const env = e2eEnv();
    // The chart's ServiceAccount: its ClusterRoles are what the server reads and writes with.
    const token = kubectl(['create', 'token', env.release, '--namespace', env.releaseNamespace, '--duration', '2h']);
    assert.equal(token.status, 0, show(token));
    const admin = parse(readFileSync(env.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[] };
    const cluster = admin.clusters[0]?.cluster;
    assert.ok(cluster);
    const kubeconfig = join(env.work, 'policy-reports.kubeconfig');
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': cluster['certificate-authority-data'] } }],
        users: [{ name: 'mtls-guard', user: { token: token.stdout.trim() } }],
        contexts: [{ name: 'mtls-guard', context: { cluster: 'e2e', user: 'mtls-guard' } }],
        'current-context': 'mtls-guard',
      }),
      { mode: 0o600 },
    );

    // The single-object rule allows the client namespace's DISABLE rule: what judges it is the mesh.
    const policy = basePolicy() as { rules: Record<string, { allow?: unknown[] }> };
    const dr = policy.rules['destinationrule-disable'];
    assert.ok(dr?.allow);
    dr.allow.push({ host: `reviews.${SERVERS}.svc.cluster.local`, reason: 'e2e: the mesh decides' });
    await writePolicy(policy);

    for (const ns of [SERVERS, CLIENTS]) await ensureNamespace(ns, { 'istio-injection': 'enabled' });
    await ensureNamespace(BYSTANDER);
    // Reports that are not ours, there before the server starts.
    for (const r of [foreignSameName, otherTool]) {
      const created = kubectl(['create', '-f', '-', '-o', 'json'], { input: JSON.stringify(r) });
      assert.equal(created.status, 0, show(created));
      const stored = JSON.parse(created.stdout) as Report;
      untouched.push({ name: stored.metadata.name, namespace: stored.metadata.namespace ?? '', resourceVersion: stored.metadata.resourceVersion });
    }

    stopServer();
    startServer(['--kubeconfig', kubeconfig]);
    await waitForWebhooks();
    await waitFor(
      'every informer to sync with the ServiceAccount token',
      async () => {
        const kinds = await watchedKinds();
        return kinds.has('PeerAuthentication') && [...kinds.values()].every((v) => v === 1);
      },
      60_000,
      250,
    );
  });

  after(async () => {
    kubectl(['delete', '--ignore-not-found', '-f', '-'], { input: yamlDocs(conflicting, peerAuthentication(SERVERS, 'default', { mtls: { mode: 'STRICT' } })) });
    for (const u of untouched) kubectl(['delete', 'policyreports.wgpolicyk8s.io', u.name, '-n', u.namespace, '--ignore-not-found']);
    await restoreBasePolicy();
    stopServer();
    startServer();
    await waitForWebhooks();
  });

  it("the chart's RBAC for the reports: only policyreports and clusterpolicyreports, bound to the ServiceAccount; none when switched off", () => {
    const env = e2eEnv();
    const name = `${env.release}-${env.releaseNamespace}-policy-reports`;
    const role = kubectl(['get', 'clusterrole', name, '-o', 'json']);
    assert.equal(role.status, 0, show(role));
    assert.deepEqual((JSON.parse(role.stdout) as { rules: unknown[] }).rules, [
      { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports', 'clusterpolicyreports'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
    ]);
    const binding = kubectl(['get', 'clusterrolebinding', name, '-o', 'json']);
    assert.equal(binding.status, 0, show(binding));
    const b = JSON.parse(binding.stdout) as { roleRef: unknown; subjects: unknown[] };
    assert.deepEqual(b.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name });
    assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: env.release, namespace: env.releaseNamespace }]);
    // The token reaches nothing else it did not have: no Secrets, and no other kind of wgpolicyk8s.io.
    for (const [verb, resource] of [
      ['create', 'policyreports.wgpolicyk8s.io'],
      ['delete', 'clusterpolicyreports.wgpolicyk8s.io'],
      ['create', 'policyexceptions.wgpolicyk8s.io'],
      ['get', 'secrets'],
      ['create', 'destinationrules.networking.istio.io'],
    ] as const) {
      const can = kubectl(['auth', 'can-i', verb, resource, '-A', '--as', `system:serviceaccount:${env.releaseNamespace}:${env.release}`]);
      const allowed = resource.endsWith('policyreports.wgpolicyk8s.io');
      assert.equal(can.stdout.trim(), allowed ? 'yes' : 'no', `${verb} ${resource}: ${show(can)}`);
    }

    const rendered = (sets: string[]): { kind?: string; metadata?: { name?: string } }[] => {
      const r = helm(['template', 'rel', env.chart, '--namespace', 'guard', '--set', 'certificates.mode=secret', '--set', 'webhook.caBundle=Q0E=', ...sets.flatMap((s) => ['--set', s])]);
      assert.equal(r.status, 0, show(r));
      return parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } }).filter(Boolean);
    };
    const reportRbac = (docs: { kind?: string; metadata?: { name?: string } }[]): string[] =>
      docs.filter((d) => d.kind?.startsWith('ClusterRole') && d.metadata?.name?.endsWith('-policy-reports')).map((d) => `${d.kind ?? ''} ${d.metadata?.name ?? ''}`);
    assert.deepEqual(reportRbac(rendered([])), ['ClusterRole rel-mtls-guard-guard-policy-reports', 'ClusterRoleBinding rel-mtls-guard-guard-policy-reports']);
    assert.deepEqual(reportRbac(rendered(['cluster.policyReports.enabled=false'])), []);
    assert.deepEqual(reportRbac(rendered(['cluster.enabled=false'])), []);
    const bad = helm(['template', 'rel', env.chart, '--set', 'cluster.policyReports.enable=true']);
    assert.notEqual(bad.status, 0, 'a misspelt value is refused by the schema');
  });

  it('the reports appear and equal what scan prints for the same objects; then follow a change', async () => {
    // The client namespace's rule first (the servers accept plaintext: nothing breaks yet), then
    // the servers turn STRICT: their clients in CLIENTS now fail (a result in CLIENTS's report,
    // its only one: productpage declares no port, so it is a client only).
    apply([service(SERVERS, 'reviews'), workload(SERVERS, 'reviews'), service(SERVERS, 'ratings'), workload(SERVERS, 'ratings'), deployment(CLIENTS, 'productpage')]);
    apply([conflicting]);
    apply([peerAuthentication(SERVERS, 'default', { mtls: { mode: 'STRICT' } })]);

    const first = await reportsMatchScan('the reports to equal the scan of the cluster');
    const clients = first.get(CLIENTS);
    assert.ok(clients, `a report in ${CLIENTS}: ${[...first.keys()].join(', ')}`);
    assert.ok((clients.summary?.['fail'] ?? 0) >= 1, JSON.stringify(clients.summary));
    assert.ok(clients.results?.some((r) => r['rule'] === 'destinationrule-strict-conflict' && String(r['message']).includes(`DestinationRule ${CLIENTS}/reviews-plaintext`)));
    const servers = first.get(SERVERS);
    assert.ok(servers, `a report in ${SERVERS}`);
    assert.deepEqual(
      servers.results?.filter((r) => r['rule'] === 'plaintext-port').map((r) => r['result']),
      ['pass', 'pass'],
      'both STRICT server ports pass',
    );
    assert.ok(first.has(''), 'the ClusterPolicyReport is always there');

    kubectl(['delete', 'destinationrules.networking.istio.io', conflicting.metadata.name, '-n', CLIENTS]);
    const second = await reportsMatchScan('the reports to follow the deleted rule');
    assert.equal(second.has(CLIENTS), false, `${CLIENTS} has no result left: its report is deleted`);
    assert.ok(second.has(SERVERS));
  });

  it('reports without our label are left as they were', () => {
    for (const u of untouched) {
      const now = getReport(u.namespace, u.name);
      assert.ok(now, `${u.namespace}/${u.name} still there`);
      assert.equal(now.metadata.resourceVersion, u.resourceVersion, `${u.namespace}/${u.name} not written`);
    }
  });
});
