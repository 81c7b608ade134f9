// What bench/apiserver.ts and bench/apiserver-cluster.ts share: one connection to the e2e
// harness's kube-apiserver (admin client certificate, 127.0.0.1 only), timed requests, the
// webhook registration they switch between, and readers for mtls-guard's /metrics and /readyz.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { sleep } from './processes.js';

/** The running control plane, as start-cluster.sh left it. */
export interface Cluster {
  work: string;
  url: URL;
  /** kubectl with the admin kubeconfig; rejects with kubectl's stderr on a non-zero exit. */
  kubectl: (args: string[], input?: string) => Promise<string>;
  /** One kept-alive connection: what the latency measurements use. */
  agent: Agent;
  /** The admin TLS material, for more agents (e.g. the parallel loader). */
  tls: { ca: Buffer; cert: Buffer; key: Buffer };
}

/** `KEY=value` lines of start-cluster.sh's cluster.env. */
export function envFile(file: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** The Cluster for a start-cluster.sh work directory and the tool directory of scripts/e2e-tools.sh. */
export function connect(clusterDir: string, bin: string, work: string): Cluster & { kubeconfig: string } {
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
  const tls = { ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')) };
  const url = new URL(env['APISERVER_URL'] ?? '');
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') throw new Error(`the bench talks to 127.0.0.1 only; cluster.env says ${url.href}`);
  return { work, url, kubectl, kubeconfig, tls, agent: new Agent({ keepAlive: true, maxSockets: 1, ...tls }) };
}

export interface Answer {
  status: number;
  body: string;
  /** The `Warning` response headers (admission warnings arrive there), joined. */
  warning: string;
  /** Round trip in ms, from sending the request to the end of the answer. */
  ms: number;
}

/** One request to the API server over `agent` (default: the measuring connection). */
export function apiRequest(cluster: Cluster, method: string, path: string, body?: string, agent: Agent = cluster.agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = request({ hostname: cluster.url.hostname, port: cluster.url.port, path, method, agent, headers, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        const w = res.headers['warning'];
        resolve({ status: res.statusCode ?? 0, body: text, warning: Array.isArray(w) ? w.join('\n') : (w ?? ''), ms: performance.now() - t0 });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A server-side dry-run create (`?dryRun=All`): admission runs in full, nothing is stored. */
export function dryRunCreate(cluster: Cluster, collectionPath: string, body: string): Promise<Answer> {
  return apiRequest(cluster, 'POST', `${collectionPath}?dryRun=All&fieldManager=bench`, body);
}

const PLURALS: Record<string, string> = {
  Namespace: 'namespaces',
  Service: 'services',
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
  PeerAuthentication: 'peerauthentications',
  AuthorizationPolicy: 'authorizationpolicies',
  DestinationRule: 'destinationrules',
  ServiceEntry: 'serviceentries',
};

/** The collection path of an object of the kinds the bench creates (throws for another kind). */
export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const plural = PLURALS[kind];
  if (!plural) throw new Error(`collectionPath: kind ${kind} is not one the bench creates`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  if (kind === 'Namespace') return `${base}/namespaces`;
  if (!namespace) throw new Error(`${kind}: a namespaced kind needs a namespace`);
  return `${base}/namespaces/${namespace}/${plural}`;
}

/** Name shared by every admission object the bench registers (and deletes between configurations). */
export const BENCH_NAME = 'mtls-guard-bench';

/** Where a webhook registration sends the API server: a local process, or a Service in the cluster (port 443 of it, say). */
export type WebhookTarget = { port: number } | { service: { namespace: string; name: string; port: number } };

/**
 * A ValidatingWebhookConfiguration calling the target's /validate (https://127.0.0.1:PORT or the
 * Service) for CREATE/UPDATE of `resources` (group/resource pairs), as the chart registers
 * mtls-guard's (failurePolicy Fail, sideEffects None, AdmissionReview v1). The floor server is
 * registered with the same text.
 */
export function webhookConfiguration(target: WebhookTarget, caBundle: string, resources: { group: string; resource: string }[]): string {
  const rules = resources
    .map(
      (r) => `      - apiGroups: ["${r.group}"]
        apiVersions: ["*"]
        operations: ["CREATE", "UPDATE"]
        resources: ["${r.resource}"]`,
    )
    .join('\n');
  const where =
    'port' in target
      ? `      url: https://127.0.0.1:${target.port}/validate`
      : `      service: {namespace: ${target.service.namespace}, name: ${target.service.name}, port: ${target.service.port}, path: /validate}`;
  return `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: ${BENCH_NAME}
webhooks:
  - name: validate.mtls-guard.bench
    clientConfig:
${where}
      caBundle: ${caBundle}
    rules:
${rules}
    sideEffects: None
    admissionReviewVersions: ["v1"]
    failurePolicy: Fail
    timeoutSeconds: 10
`;
}

/** Latency summary in ms (nearest-rank percentiles), rounded to the microsecond. */
export interface Summary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summary(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  const round = (v: number): number => Math.round(v * 1000) / 1000;
  return { p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), max: round(sorted.at(-1) ?? 0), mean: round(sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1)) };
}

/** The text of mtls-guard's /metrics (plain HTTP on its metrics port, on 127.0.0.1 or a pod IP); retried a few times, as a
 * kept-alive connection the server closes at the same moment fails the request. */
export async function metricsText(metricsPort: number, host = '127.0.0.1'): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await (await fetch(`http://${host}:${metricsPort}/metrics`)).text();
    } catch (err) {
      if (attempt >= 4) throw new Error(`GET ${host}:${metricsPort}/metrics failed ${attempt + 1} times`, { cause: err });
      await sleep(200);
    }
  }
}

/** The value of one sample line (`name{labels} value`, labels given exactly as printed, or none). */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  const escaped = `${name}${labels ? `{${labels}}` : ''}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** mtls-guard's own count and summed time (s) of /validate decisions, from its /metrics. */
export async function guardDurations(metricsPort: number, host = '127.0.0.1'): Promise<{ count: number; sum: number }> {
  const text = await metricsText(metricsPort, host);
  return {
    count: metricValue(text, 'mtls_guard_admission_duration_seconds_count', 'webhook="validate"') ?? 0,
    sum: metricValue(text, 'mtls_guard_admission_duration_seconds_sum', 'webhook="validate"') ?? 0,
  };
}

/** Polls until `probe` returns a value (a probe that throws counts as a miss), failing after `timeoutMs` with `what` and the last note. */
export async function poll<T>(what: string, timeoutMs: number, everyMs: number, probe: () => Promise<{ value?: T; note?: string }>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let note = '';
  for (;;) {
    const r = await probe().catch((err: unknown) => ({ value: undefined, note: err instanceof Error ? `${err.message}${err.cause ? ` (${String(err.cause)})` : ''}` : String(err) }));
    if (r.value !== undefined) return r.value;
    note = r.note ?? note;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s${note ? `; last: ${note}` : ''}`);
    await sleep(everyMs);
  }
}
