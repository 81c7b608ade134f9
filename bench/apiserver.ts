// `npm run bench:apiserver`: what an admission check adds to a write through a real
// kube-apiserver (the e2e harness: etcd + kube-apiserver on 127.0.0.1, no other components).
// The same request - a server-side dry-run create of an allowed PeerAuthentication (mtls
// STRICT, namespace default), sent one at a time over one keep-alive connection - is timed with
//   (a) no admission configured for PeerAuthentications,
//   (b) an equivalent in-process ValidatingAdmissionPolicy in CEL (admissionregistration.k8s.io/v1:
//       deny spec.mtls.mode or a port-level mode DISABLE outside the default policy's allowlist),
//   (c) mtls-guard, a local `mtls-guard serve` process (as test/e2e/webhook-server.sh starts it),
//       behind a ValidatingWebhookConfiguration with url https://127.0.0.1:PORT/validate + caBundle.
// Every configuration answers 201; the configurations are measured in interleaved rounds so
// other work on the machine spreads over all three. Writes bench/apiserver-results.json, the
// `npm run bench:apiserver` section of BENCHMARKS.md and a panel of bench/latency.svg.
//
//   npm run bench:apiserver                     # 1200 creates per configuration, in 6 rounds (~1 min)
//   npm run bench:apiserver -- --requests 300   # fewer; --rounds N, --no-build, --quick (no files written)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, makeCerts, run, sleep, startGuard, stop } from './processes.js';
import { writeApiServerReport, type ApiServerResults, type ConfigId, type ConfigResult } from './report.js';

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string' },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
  },
});
const REQUESTS = Number(flags.requests ?? (flags.quick ? 60 : 1200));
const ROUNDS = Number(flags.rounds ?? 6);
const WARMUP = Number(flags.warmup ?? 20);
const log = (msg: string): void => void process.stderr.write(`bench:apiserver: ${msg}\n`);

const PA_PATH = '/apis/security.istio.io/v1/namespaces/default/peerauthentications';
const NAME = 'mtls-guard-bench';

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

function webhookConfiguration(port: number, caBundle: string): string {
  return `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: ${NAME}
webhooks:
  - name: validate.mtls-guard.bench
    clientConfig:
      url: https://127.0.0.1:${port}/validate
      caBundle: ${caBundle}
    rules:
      - apiGroups: ["security.istio.io"]
        apiVersions: ["*"]
        operations: ["CREATE", "UPDATE"]
        resources: ["peerauthentications"]
    sideEffects: None
    admissionReviewVersions: ["v1"]
    failurePolicy: Fail
    timeoutSeconds: 10
`;
}

interface Cluster {
  work: string;
  url: URL;
  kubectl: (args: string[], input?: string) => Promise<string>;
  agent: Agent;
}

function envFile(file: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** One dry-run create; resolves with the status, the body and the round trip in ms. */
function dryRunCreate(cluster: Cluster, body: string): Promise<{ status: number; body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      {
        hostname: cluster.url.hostname,
        port: cluster.url.port,
        path: `${PA_PATH}?dryRun=All&fieldManager=bench`,
        method: 'POST',
        agent: cluster.agent,
        headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 30_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, ms: performance.now() - t0 }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls until a DISABLE PeerAuthentication gets the answer this configuration gives. */
async function waitEffective(cluster: Cluster, config: ConfigId): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let i = 0; ; i++) {
    const r = await dryRunCreate(cluster, peerAuthentication(`probe-${i}`, 'DISABLE'));
    const ok = config === 'none' ? r.status === 201 : config === 'vap' ? r.status >= 400 && r.body.includes('ValidatingAdmissionPolicy') : r.status >= 400 && r.body.includes('admission webhook');
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${config}: not in effect after 60 s; last answer ${r.status} ${r.body.slice(0, 300)}`);
    await sleep(200);
  }
}

async function configure(cluster: Cluster, config: ConfigId, webhookYaml: string): Promise<void> {
  await cluster.kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy,validatingwebhookconfiguration', NAME, '--ignore-not-found', '--wait=true']);
  if (config === 'vap') await cluster.kubectl(['apply', '-f', '-'], VAP);
  if (config === 'mtls-guard') await cluster.kubectl(['apply', '-f', '-'], webhookYaml);
  await waitEffective(cluster, config);
}

function summary(samples: number[]): ConfigResult['latencyMs'] {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  const round = (v: number): number => Math.round(v * 1000) / 1000;
  return { p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), max: round(sorted.at(-1) ?? 0), mean: round(sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1)) };
}

/** mtls-guard's own count and summed time of /validate decisions, from its /metrics. */
async function guardDurations(metricsPort: number): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name}\\{webhook="validate"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { count: value('mtls_guard_admission_duration_seconds_count'), sum: value('mtls_guard_admission_duration_seconds_sum') };
}

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
  let guard: Awaited<ReturnType<typeof startGuard>> | undefined;
  let clusterStarted = false;
  try {
    log(`starting etcd + kube-apiserver (${versions}) in ${clusterDir}`);
    clusterStarted = true;
    await run('bash', [join(ROOT, 'test/e2e/tools/start-cluster.sh'), clusterDir, bin]);
    const env = envFile(join(clusterDir, 'cluster.env'));
    const pki = env['PKI_DIR'] ?? join(clusterDir, 'pki');
    const kubeconfig = env['KUBECONFIG'] ?? join(clusterDir, 'kubeconfig');
    const kubectl = (args: string[], input?: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = spawn(join(bin, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')} exited ${code}: ${err}`))));
        child.stdin.end(input ?? '');
      });
    const cluster: Cluster = {
      work,
      url: new URL(env['APISERVER_URL'] ?? ''),
      kubectl,
      agent: new Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')) }),
    };
    log('installing the Istio CRDs');
    await kubectl(['apply', '--server-side', '-f', join(bin, 'istio-crds.yaml')]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/peerauthentications.security.istio.io']);

    const certDir = join(work, 'webhook-certs');
    await makeCerts(certDir);
    guard = await startGuard({ certDir, logFile: join(work, 'mtls-guard.log') });
    const webhookYaml = webhookConfiguration(guard.port, readFileSync(join(certDir, 'ca.crt')).toString('base64'));
    // A fresh API server answers its first few hundred writes slower (caches, connections).
    for (let i = 0; i < 300; i++) await dryRunCreate(cluster, peerAuthentication(`fresh-${i}`, 'STRICT'));

    const configs: ConfigId[] = ['none', 'vap', 'mtls-guard'];
    const samples: Record<ConfigId, number[]> = { none: [], vap: [], 'mtls-guard': [] };
    const errors: Record<ConfigId, number> = { none: 0, vap: 0, 'mtls-guard': 0 };
    const roundMedians: Record<ConfigId, number[]> = { none: [], vap: [], 'mtls-guard': [] };
    let guardBefore = { count: 0, sum: 0 };
    const guardSpent = { count: 0, sum: 0 };
    let seq = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const order = configs.map((_, i) => configs[(i + round) % configs.length] as ConfigId);
      for (const config of order) {
        await configure(cluster, config, webhookYaml);
        for (let i = 0; i < WARMUP; i++) await dryRunCreate(cluster, peerAuthentication(`warm-${seq++}`, 'STRICT'));
        if (config === 'mtls-guard') guardBefore = await guardDurations(guard.metricsPort);
        const n = Math.round(REQUESTS / ROUNDS);
        const here: number[] = [];
        for (let i = 0; i < n; i++) {
          const r = await dryRunCreate(cluster, peerAuthentication(`bench-${seq++}`, 'STRICT'));
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
    await configure(cluster, 'none', webhookYaml);
    cluster.agent.destroy();

    const results: ApiServerResults = {
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      node: process.version,
      cpus: (await run('nproc', [])).trim(),
      apiserver: versions,
      requestsPerConfig: samples.none.length,
      rounds: ROUNDS,
      loadavgBefore: loadBefore.map((v) => Math.round(v * 100) / 100),
      loadavgAfter: loadavg().map((v) => Math.round(v * 100) / 100),
      configs: configs.map((id) => ({ id, requests: samples[id].length, errors: errors[id], latencyMs: summary(samples[id]), roundP50Ms: roundMedians[id] })),
      guardMeanDecisionMs: guardSpent.count ? Math.round((guardSpent.sum / guardSpent.count) * 1e6) / 1e3 : null,
      guardDecisions: guardSpent.count,
    };
    writeApiServerReport(results, { quick: flags.quick });
  } finally {
    if (guard) await stop(guard);
    if (clusterStarted) await run('bash', [join(ROOT, 'test/e2e/tools/stop-cluster.sh'), clusterDir]).catch((err: unknown) => log(`stop-cluster: ${String(err)}`));
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:apiserver: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
