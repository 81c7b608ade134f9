// What both forms of `npm run bench:apiserver` measure, in one place: the four admission
// configurations for a server-side dry-run create of a PeerAuthentication, switching between them
// (each checked to be in force before it is timed), and the interleaved rounds of timed creates.
// bench/apiserver.ts runs the two webhook servers as local processes, bench/apiserver-pod.ts as
// pods on a kubelet node; only how the API server reaches them differs (WebhookServers).
import { request } from 'node:https';
import { availableParallelism } from 'node:os';
import { BENCH_NAME, dryRunCreate, poll, summary, type Cluster } from './apiserver-kube.js';
import type { ApiServerResults, ConfigId, ConfigResult } from './report.js';

/** The collection the bench creates in (namespace default, which no webhook set-up excludes). */
export const PA_PATH = '/apis/security.istio.io/v1/namespaces/default/peerauthentications';
/** What the floor's and mtls-guard's registrations name. */
export const PA_RESOURCES = [{ group: 'security.istio.io', resource: 'peerauthentications' }];

/** A PeerAuthentication in namespace default with spec.mtls.mode `mode`, as JSON. */
export function peerAuthentication(name: string, mode: 'STRICT' | 'DISABLE'): string {
  return JSON.stringify({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace: 'default' }, spec: { mtls: { mode } } });
}

// The default policy's peerauthentication-disable rule, in CEL: top-level and port-level DISABLE,
// allowed only for its one allowlist entry (istio-system/disable-mtls-jaeger-collector).
const VAP = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: ${BENCH_NAME}
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
  name: ${BENCH_NAME}
spec:
  policyName: ${BENCH_NAME}
  validationActions: ["Deny"]
`;

/** How the API server reaches (b) the floor server and (d) mtls-guard, and how the bench reads their counters. */
export interface WebhookServers {
  /** The ValidatingWebhookConfiguration (named BENCH_NAME) registering each. */
  yaml: { floor: string; 'mtls-guard': string };
  /** The floor server's count of answered AdmissionReviews (its GET /stats). */
  floorReviews: () => Promise<number>;
  /** mtls-guard's own count and summed seconds of /validate decisions (its /metrics). */
  guardDurations: () => Promise<{ count: number; sum: number }>;
}

/**
 * The reviews answered so far by a bench/baseline-server.ts at https://HOST:PORT (GET /stats;
 * its certificate is not checked: this is the bench's own counter, not the measured path).
 * Rejects on a connection error or an answer that is not {"reviews":N}.
 */
export function floorStats(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ hostname: host, port, path: '/stats', rejectUnauthorized: false, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        const reviews = (JSON.parse(text) as { reviews?: unknown }).reviews;
        if (typeof reviews === 'number') resolve(reviews);
        else reject(new Error(`GET https://${host}:${port}/stats answered ${res.statusCode}: ${text.slice(0, 200)}`));
      });
    })
      .on('timeout', function (this: { destroy(err: Error): void }) {
        this.destroy(new Error(`GET https://${host}:${port}/stats: no answer within 10 s`));
      })
      .on('error', reject)
      .end();
  });
}

/** Polls until a DISABLE PeerAuthentication gets the answer this configuration gives (and, for the floor, the floor answered it). */
async function waitEffective(cluster: Cluster, config: ConfigId, servers: WebhookServers): Promise<void> {
  let i = 0;
  await poll(`${config} in force`, 60_000, 200, async () => {
    const before = config === 'floor' ? await servers.floorReviews() : 0;
    const r = await dryRunCreate(cluster, PA_PATH, peerAuthentication(`probe-${i++}`, 'DISABLE'));
    const ok =
      config === 'none'
        ? r.status === 201
        : config === 'floor'
          ? r.status === 201 && (await servers.floorReviews()) > before
          : config === 'vap'
            ? r.status >= 400 && r.body.includes('ValidatingAdmissionPolicy')
            : r.status >= 400 && r.body.includes('admission webhook');
    return ok ? { value: true } : { note: `${r.status} ${r.body.slice(0, 300)}` };
  });
}

/** Puts `config` in force: removes the bench's admission objects, registers this one's, waits until it answers. */
export async function configure(cluster: Cluster, config: ConfigId, servers: WebhookServers): Promise<void> {
  await cluster.kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy,validatingwebhookconfiguration', BENCH_NAME, '--ignore-not-found', '--wait=true']);
  if (config === 'vap') await cluster.kubectl(['apply', '-f', '-'], VAP);
  if (config === 'floor' || config === 'mtls-guard') await cluster.kubectl(['apply', '-f', '-'], servers.yaml[config]);
  await waitEffective(cluster, config, servers);
}

export interface RoundsOptions {
  /** Timed creates per configuration, over all rounds. */
  requests: number;
  rounds: number;
  /** Untimed creates after each switch. */
  warmup: number;
  log: (msg: string) => void;
  /** True once the run was told to stop (SIGINT/SIGTERM): the rounds end early. */
  stopped: () => boolean;
}

export interface RoundsResult {
  configs: ConfigResult[];
  requestsPerConfig: number;
  /** Mean of mtls-guard's own decision time over the timed creates it judged (ms), null if none. */
  guardMeanDecisionMs: number | null;
  guardDecisions: number;
}

/**
 * The measurement: 300 untimed creates (a fresh API server answers its first few hundred writes
 * slower), then `rounds` rounds in which each configuration in turn (the order rotating by one
 * each round, so other work on the machine spreads over all four) is put in force, warmed up and
 * timed for requests/rounds creates of an allowed PeerAuthentication, one at a time over the
 * cluster's one kept-alive connection. Leaves configuration (a) in force. Latencies in ms.
 */
export async function measureRounds(cluster: Cluster, servers: WebhookServers, o: RoundsOptions): Promise<RoundsResult> {
  for (let i = 0; i < 300; i++) await dryRunCreate(cluster, PA_PATH, peerAuthentication(`fresh-${i}`, 'STRICT'));
  const configs: ConfigId[] = ['none', 'floor', 'vap', 'mtls-guard'];
  const samples = Object.fromEntries(configs.map((c) => [c, [] as number[]])) as Record<ConfigId, number[]>;
  const errors = Object.fromEntries(configs.map((c) => [c, 0])) as Record<ConfigId, number>;
  const roundMedians = Object.fromEntries(configs.map((c) => [c, [] as number[]])) as Record<ConfigId, number[]>;
  const guardSpent = { count: 0, sum: 0 };
  let seq = 0;
  for (let round = 0; round < o.rounds && !o.stopped(); round++) {
    const order = configs.map((_, i) => configs[(i + round) % configs.length] as ConfigId);
    for (const config of order) {
      await configure(cluster, config, servers);
      for (let i = 0; i < o.warmup; i++) await dryRunCreate(cluster, PA_PATH, peerAuthentication(`warm-${seq++}`, 'STRICT'));
      const guardBefore = config === 'mtls-guard' ? await servers.guardDurations() : undefined;
      const n = Math.round(o.requests / o.rounds);
      const here: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = await dryRunCreate(cluster, PA_PATH, peerAuthentication(`bench-${seq++}`, 'STRICT'));
        if (r.status !== 201) errors[config]++;
        here.push(r.ms);
      }
      if (guardBefore) {
        const after = await servers.guardDurations();
        guardSpent.count += after.count - guardBefore.count;
        guardSpent.sum += after.sum - guardBefore.sum;
      }
      samples[config].push(...here);
      roundMedians[config].push(summary(here).p50);
      o.log(`round ${round + 1} ${config}: p50 ${summary(here).p50} ms p99 ${summary(here).p99} ms (${n} creates, ${errors[config]} not 201 so far)`);
    }
  }
  await configure(cluster, 'none', servers);
  return {
    configs: configs.map((id) => ({ id, requests: samples[id].length, errors: errors[id], latencyMs: summary(samples[id]), roundP50Ms: roundMedians[id] })),
    requestsPerConfig: samples.none.length,
    guardMeanDecisionMs: guardSpent.count ? Math.round((guardSpent.sum / guardSpent.count) * 1e6) / 1e3 : null,
    guardDecisions: guardSpent.count,
  };
}

/**
 * The results both forms report: when and on what the run happened (load averages as given,
 * rounded to 0.01), and what measureRounds measured.
 */
export function runResults(
  run: { started: Date; apiserver: string; rounds: number; loadBefore: number[]; loadAfter: number[] },
  measured: RoundsResult,
): Omit<ApiServerResults, 'webhookIn'> {
  const round = (v: number): number => Math.round(v * 100) / 100;
  return {
    startedAt: run.started.toISOString(),
    finishedAt: new Date().toISOString(),
    node: process.version,
    cpus: String(availableParallelism()),
    apiserver: run.apiserver,
    rounds: run.rounds,
    loadavgBefore: run.loadBefore.map(round),
    loadavgAfter: run.loadAfter.map(round),
    ...measured,
  };
}
