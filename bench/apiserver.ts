// `npm run bench:apiserver`: what an admission check adds to a write through a real
// kube-apiserver (the e2e harness: etcd + kube-apiserver on 127.0.0.1, no other components).
// The same request - a server-side dry-run create of an allowed PeerAuthentication (mtls
// STRICT, namespace default), sent one at a time over one keep-alive connection - is timed with
//   (a) no admission configured for PeerAuthentications,
//   (b) the floor of any webhook hop: the bench's bare baseline server (bench/baseline-server.ts,
//       parse the review, answer "allowed") behind the same ValidatingWebhookConfiguration as (d),
//   (c) an equivalent in-process ValidatingAdmissionPolicy in CEL (admissionregistration.k8s.io/v1:
//       deny spec.mtls.mode or a port-level mode DISABLE outside the default policy's allowlist),
//   (d) mtls-guard, a local `mtls-guard serve --no-cluster` process (as test/e2e/webhook-server.sh
//       starts it), behind a ValidatingWebhookConfiguration with url https://127.0.0.1:PORT/validate + caBundle.
// Every configuration answers 201; the configurations are measured in interleaved rounds so
// other work on the machine spreads over all four.
// Then cluster mode (bench/apiserver-cluster.ts, skipped with --skip-cluster): the mesh-model
// bench's generated mesh (10k Services, 5k DR, 2k PA, 10k workloads at --mesh-scale 1) created
// through the API server, `mtls-guard serve --kubeconfig` watching it, and dry-run creates of a
// DestinationRule and a PeerAuthentication to (d) and to it, interleaved: added latency, time to
// sync, memory. Writes bench/apiserver-results.json, the `npm run bench:apiserver` section of
// BENCHMARKS.md and a panel of bench/latency.svg. Everything is torn down at the end, on failure
// and on SIGINT/SIGTERM.
//
//   npm run bench:apiserver                     # 1200 creates per configuration in 6 rounds, full mesh (~6 min)
//   npm run bench:apiserver -- --requests 300   # fewer; --rounds N, --no-build, --skip-cluster,
//                                               # --mesh-scale F, --concurrency N (mesh loader)
//   npm run bench:apiserver -- --quick          # 60 creates, mesh at scale 0.05, no files written
//   ... -- --no-write --out FILE                # any size, only print the markdown and write FILE (JSON)
//   ... -- --heap-snapshot DIR                  # the cluster-mode server's V8 heap snapshot at the end, into DIR
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runClusterMode } from './apiserver-cluster.js';
import { BENCH_NAME, connect, dryRunCreate, guardDurations, poll, summary, webhookConfiguration, type Cluster } from './apiserver-kube.js';
import { ROOT, makeCerts, run, startBaseline, startGuard, stop, transpile, type Running } from './processes.js';
import { writeApiServerReport, type ApiServerResults, type ConfigId } from './report.js';

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string' },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    'skip-cluster': { type: 'boolean', default: false },
    'mesh-scale': { type: 'string' },
    concurrency: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    out: { type: 'string' },
    'heap-snapshot': { type: 'string' },
  },
});
const positive = (name: string, v: string | undefined, fallback: number): number => {
  const n = Number(v ?? fallback);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${v}`);
  return n;
};
const REQUESTS = positive('requests', flags.requests, flags.quick ? 60 : 1200);
const ROUNDS = positive('rounds', flags.rounds, flags.quick ? 2 : 6);
const WARMUP = positive('warmup', flags.warmup, 20);
const MESH_SCALE = positive('mesh-scale', flags['mesh-scale'], flags.quick ? 0.05 : 1);
const CONCURRENCY = positive('concurrency', flags.concurrency, 16);
const log = (msg: string): void => void process.stderr.write(`bench:apiserver: ${msg}\n`);

const PA_PATH = '/apis/security.istio.io/v1/namespaces/default/peerauthentications';
const NAME = BENCH_NAME;
const PA_RESOURCES = [{ group: 'security.istio.io', resource: 'peerauthentications' }];

function peerAuthentication(name: string, mode: 'STRICT' | 'DISABLE'): string {
  return JSON.stringify({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace: 'default' }, spec: { mtls: { mode } } });
}

// The default policy's peerauthentication-disable rule, in CEL: top-level and port-level DISABLE,
// allowed only for its one allowlist entry (istio-system/disable-mtls-jaeger-collector).
const VAP = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: ${NAME}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: ["security.istio.io"]
        apiVersions: ["*"]
        operations: ["CREATE", "UPDATE"]
        resources: ["peerauthentications"]
  variables:
    - name: disabled
      expression: >-
        has(object.spec) && (
          (has(object.spec.mtls) && has(object.spec.mtls.mode) && object.spec.mtls.mode == 'DISABLE') ||
          (has(object.spec.portLevelMtls) && object.spec.portLevelMtls.exists(p, has(object.spec.portLevelMtls[p].mode) && object.spec.portLevelMtls[p].mode == 'DISABLE')))
    - name: allowlisted
      expression: object.metadata.namespace == 'istio-system' && object.metadata.name == 'disable-mtls-jaeger-collector'
  validations:
    - expression: "!variables.disabled || variables.allowlisted"
      message: "mTLS DISABLE is not allowed outside the allowlist (peerauthentication-disable)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: ${NAME}
spec:
  policyName: ${NAME}
  validationActions: ["Deny"]
`;

/** The floor server's count of answered reviews (its GET /stats). */
async function floorReviews(floor: Running): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ hostname: '127.0.0.1', port: floor.port, path: '/stats', rejectUnauthorized: false, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve((JSON.parse(text) as { reviews: number }).reviews));
    })
      .on('error', reject)
      .end();
  });
}

interface Servers {
  guard: Running & { metricsPort: number };
  floor: Running;
  yaml: { floor: string; 'mtls-guard': string };
}

/** Polls until a DISABLE PeerAuthentication gets the answer this configuration gives (and, for the floor, the floor answered it). */
async function waitEffective(cluster: Cluster, config: ConfigId, servers: Servers): Promise<void> {
  let i = 0;
  await poll(`${config} in force`, 60_000, 200, async () => {
    const before = config === 'floor' ? await floorReviews(servers.floor) : 0;
    const r = await dryRunCreate(cluster, PA_PATH, peerAuthentication(`probe-${i++}`, 'DISABLE'));
    const ok =
      config === 'none'
        ? r.status === 201
        : config === 'floor'
          ? r.status === 201 && (await floorReviews(servers.floor)) > before
          : config === 'vap'
            ? r.status >= 400 && r.body.includes('ValidatingAdmissionPolicy')
            : r.status >= 400 && r.body.includes('admission webhook');
    return ok ? { value: true } : { note: `${r.status} ${r.body.slice(0, 300)}` };
  });
}

async function configure(cluster: Cluster, config: ConfigId, servers: Servers): Promise<void> {
  await cluster.kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy,validatingwebhookconfiguration', NAME, '--ignore-not-found', '--wait=true']);
  if (config === 'vap') await cluster.kubectl(['apply', '-f', '-'], VAP);
  if (config === 'floor' || config === 'mtls-guard') await cluster.kubectl(['apply', '-f', '-'], servers.yaml[config]);
  await waitEffective(cluster, config, servers);
}

/** Stops whatever is running when the process is told to stop (Ctrl-C, a CI timeout). */
const cleanups: (() => Promise<void>)[] = [];
let stopping = false;
async function cleanUp(): Promise<void> {
  stopping = true;
  for (const c of cleanups.splice(0).reverse()) await c().catch((err: unknown) => log(`clean-up: ${String(err)}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    log(`${signal}: stopping and tearing down`);
    void cleanUp().finally(() => process.exit(130));
  });

async function main(): Promise<void> {
  const started = new Date();
  const loadBefore = loadavg();
  if (!flags['no-build']) {
    log('building dist/ (npm run build)');
    await run('npm', ['run', 'build']);
  }
  const bin = (await run('bash', [join(ROOT, 'scripts/e2e-tools.sh')])).trim().split('\n').at(-1) ?? '';
  const versions = (await run(join(bin, 'kube-apiserver'), ['--version'])).trim();
  const work = mkdtempSync(join(tmpdir(), 'mtls-guard-bench-apiserver-'));
  const clusterDir = join(work, 'cluster');
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  log(`starting etcd + kube-apiserver (${versions}) in ${clusterDir}`);
  cleanups.push(async () => void (await run('bash', [join(ROOT, 'test/e2e/tools/stop-cluster.sh'), clusterDir])));
  // The generated mesh has 10,000 Services: the harness's /24 Service range holds 254.
  process.env['APISERVER_EXTRA_ARGS'] = `${process.env['APISERVER_EXTRA_ARGS'] ?? ''} --service-cluster-ip-range=10.0.0.0/16`.trim();
  await run('bash', [join(ROOT, 'test/e2e/tools/start-cluster.sh'), clusterDir, bin]);
  if (stopping) return;
  const cluster = connect(clusterDir, bin, work);
  cleanups.push(async () => cluster.agent.destroy());
  log('installing the Istio CRDs');
  await cluster.kubectl(['apply', '--server-side', '-f', join(bin, 'istio-crds.yaml')]);
  await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/peerauthentications.security.istio.io', 'crd/destinationrules.networking.istio.io', 'crd/authorizationpolicies.security.istio.io', 'crd/serviceentries.networking.istio.io']);

  const certDir = join(work, 'webhook-certs');
  await makeCerts(certDir);
  const guard = await startGuard({ certDir, logFile: join(work, 'mtls-guard.log'), extraArgs: ['--no-cluster'] });
  cleanups.push(async () => void (await stop(guard)));
  const floor = await startBaseline(transpile(join(ROOT, 'bench/baseline-server.ts'), join(work, 'baseline-server.mjs')), certDir);
  cleanups.push(async () => void (await stop(floor)));
  const caBundle = readFileSync(join(certDir, 'ca.crt')).toString('base64');
  const servers: Servers = { guard, floor, yaml: { floor: webhookConfiguration(floor.port, caBundle, PA_RESOURCES), 'mtls-guard': webhookConfiguration(guard.port, caBundle, PA_RESOURCES) } };
  // A fresh API server answers its first few hundred writes slower (caches, connections).
  for (let i = 0; i < 300; i++) await dryRunCreate(cluster, PA_PATH, peerAuthentication(`fresh-${i}`, 'STRICT'));

  const configs: ConfigId[] = ['none', 'floor', 'vap', 'mtls-guard'];
  const samples = Object.fromEntries(configs.map((c) => [c, [] as number[]])) as Record<ConfigId, number[]>;
  const errors = Object.fromEntries(configs.map((c) => [c, 0])) as Record<ConfigId, number>;
  const roundMedians = Object.fromEntries(configs.map((c) => [c, [] as number[]])) as Record<ConfigId, number[]>;
  let guardBefore = { count: 0, sum: 0 };
  const guardSpent = { count: 0, sum: 0 };
  let seq = 0;
  for (let round = 0; round < ROUNDS && !stopping; round++) {
    const order = configs.map((_, i) => configs[(i + round) % configs.length] as ConfigId);
    for (const config of order) {
      await configure(cluster, config, servers);
      for (let i = 0; i < WARMUP; i++) await dryRunCreate(cluster, PA_PATH, peerAuthentication(`warm-${seq++}`, 'STRICT'));
      if (config === 'mtls-guard') guardBefore = await guardDurations(guard.metricsPort);
      const n = Math.round(REQUESTS / ROUNDS);
      const here: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = await dryRunCreate(cluster, PA_PATH, peerAuthentication(`bench-${seq++}`, 'STRICT'));
        if (r.status !== 201) errors[config]++;
        here.push(r.ms);
      }
      if (config === 'mtls-guard') {
        const after = await guardDurations(guard.metricsPort);
        guardSpent.count += after.count - guardBefore.count;
        guardSpent.sum += after.sum - guardBefore.sum;
      }
      samples[config].push(...here);
      roundMedians[config].push(summary(here).p50);
      log(`round ${round + 1} ${config}: p50 ${summary(here).p50} ms p99 ${summary(here).p99} ms (${n} creates, ${errors[config]} not 201 so far)`);
    }
  }
  await configure(cluster, 'none', servers);
  const loadAfterSingle = loadavg();

  const clusterMode = flags['skip-cluster'] || stopping
    ? undefined
    : await runClusterMode({ cluster, kubeconfig: cluster.kubeconfig, certDir, work, single: guard, meshScale: MESH_SCALE, requests: REQUESTS, rounds: ROUNDS, warmup: WARMUP, concurrency: CONCURRENCY, log, onInterrupt: (c) => cleanups.push(c), ...(flags['heap-snapshot'] && { heapSnapshotDir: flags['heap-snapshot'] }) });

  const results: ApiServerResults = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    node: process.version,
    cpus: (await run('nproc', [])).trim(),
    apiserver: versions,
    requestsPerConfig: samples.none.length,
    rounds: ROUNDS,
    loadavgBefore: loadBefore.map((v) => Math.round(v * 100) / 100),
    loadavgAfter: loadAfterSingle.map((v) => Math.round(v * 100) / 100),
    configs: configs.map((id) => ({ id, requests: samples[id].length, errors: errors[id], latencyMs: summary(samples[id]), roundP50Ms: roundMedians[id] })),
    guardMeanDecisionMs: guardSpent.count ? Math.round((guardSpent.sum / guardSpent.count) * 1e6) / 1e3 : null,
    guardDecisions: guardSpent.count,
    ...(clusterMode && { cluster: clusterMode }),
  };
  if (flags.out) writeFileSync(flags.out, `${JSON.stringify(results, null, 2)}\n`);
  writeApiServerReport(results, { quick: flags.quick || flags['no-write'] });
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench:apiserver: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanUp());
