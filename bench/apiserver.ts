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
// With --pod (`npm run bench:apiserver:pod`, bench/apiserver-pod.ts) (b) and (d) run as pods on
// the node suite's kubelet node instead (scripts/e2e-node.sh up; the image built from our
// Dockerfile), called through their Services; no cluster mode (the pods cannot reach that API
// server). Writes bench/apiserver-pod-results.json and its own section of BENCHMARKS.md.
//
//   npm run bench:apiserver                     # 1200 creates per configuration in 6 rounds, full mesh (~6 min)
//   npm run bench:apiserver -- --requests 300   # fewer; --rounds N, --no-build, --skip-cluster,
//                                               # --mesh-scale F, --concurrency N (mesh loader)
//   npm run bench:apiserver -- --quick          # 60 creates, mesh at scale 0.05, no files written
//   ... -- --no-write --out FILE                # any size, only print the markdown and write FILE (JSON)
//   ... -- --heap-snapshot DIR                  # the cluster-mode server's V8 heap snapshot at the end, into DIR
//   npm run bench:apiserver:pod                 # webhooks in pods (root; holds the node lock; ~5 min warm)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runClusterMode } from './apiserver-cluster.js';
import { connect, guardDurations, webhookConfiguration } from './apiserver-kube.js';
import { runInPods } from './apiserver-pod.js';
import { floorStats, measureRounds, PA_RESOURCES, runResults } from './apiserver-rounds.js';
import { ROOT, makeCerts, run, startBaseline, startGuard, stop, transpile } from './processes.js';
import { writeApiServerReport, type ApiServerResults } from './report.js';

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
    pod: { type: 'boolean', default: false },
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

/** (a)-(d) with both webhook servers as local processes, then cluster mode. */
async function inProcesses(): Promise<ApiServerResults | undefined> {
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
  if (stopping) return undefined;
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
  const rounds = await measureRounds(
    cluster,
    {
      yaml: { floor: webhookConfiguration({ port: floor.port }, caBundle, PA_RESOURCES), 'mtls-guard': webhookConfiguration({ port: guard.port }, caBundle, PA_RESOURCES) },
      floorReviews: () => floorStats('127.0.0.1', floor.port),
      guardDurations: () => guardDurations(guard.metricsPort),
    },
    { requests: REQUESTS, rounds: ROUNDS, warmup: WARMUP, log, stopped: () => stopping },
  );
  const loadAfterSingle = loadavg();

  const clusterMode = flags['skip-cluster'] || stopping
    ? undefined
    : await runClusterMode({ cluster, kubeconfig: cluster.kubeconfig, certDir, work, single: guard, meshScale: MESH_SCALE, requests: REQUESTS, rounds: ROUNDS, warmup: WARMUP, concurrency: CONCURRENCY, log, onInterrupt: (c) => cleanups.push(c), ...(flags['heap-snapshot'] && { heapSnapshotDir: flags['heap-snapshot'] }) });

  return {
    ...runResults({ started, apiserver: versions, rounds: ROUNDS, loadBefore, loadAfter: loadAfterSingle }, rounds),
    webhookIn: 'process',
    ...(clusterMode && { cluster: clusterMode }),
  };
}

async function main(): Promise<void> {
  const results = flags.pod
    ? await runInPods({ requests: REQUESTS, rounds: ROUNDS, warmup: WARMUP, build: !flags['no-build'], log, onCleanUp: (c) => cleanups.push(c), stopped: () => stopping })
    : await inProcesses();
  if (!results || stopping) return;
  if (flags.out) writeFileSync(flags.out, `${JSON.stringify(results, null, 2)}\n`);
  writeApiServerReport(results, { quick: flags.quick || flags['no-write'] });
}

main()
  .catch((err: unknown) => {
    // After a signal, whatever was in flight fails as its processes go: not the run's failure.
    if (stopping) return;
    process.stderr.write(`bench:apiserver: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanUp());
