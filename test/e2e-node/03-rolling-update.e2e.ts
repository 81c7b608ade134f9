// Node scenario 3 (issue 14): two replicas of the chart's pods on the real node, with its
// PodDisruptionBudget, rolled by a `helm upgrade` (a changed pod annotation) while a client sends
// a steady stream of server-side dry-run creates through the API server: 20 a second, from before
// the upgrade until both old pods are gone, capped at MAX_REQUESTS. Each create must get the
// webhook's own answer: odd ones a PeerAuthentication DISABLE that must be DENIED, even ones a
// Deployment that must come back MUTATED. Anything else is a failed admission: "failed calling
// webhook" (refused, reset, EOF, timeout; failurePolicy Fail turns each into an error), a client
// timeout, or a fail-open answer (the DISABLE admitted, the Deployment unmutated). Zero allowed.
//
// What makes the roll safe is the chart's (charts/mtls-guard/README.md "Availability and
// shutdown"): maxUnavailable 0 / maxSurge 1, a preStop sleep while the endpoint leaves the
// Service, then the server's drain on SIGTERM (readiness off, `Connection: close` on every answer,
// idle keep-alive connections ended, in-flight reviews finished).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { DENIED_PREFIX, deployment, peerAuthentication } from '../e2e/lib/manifests.js';
import { waitFor } from '../lib/wait.js';

// ---- shared with 04 until test/e2e-node/lib.ts has them ----
interface NodeEnv {
  root: string;
  bin: string;
  kubeconfig: string;
  chart: string;
  image: { repository: string; tag: string };
  kubeConfig: k8s.KubeConfig;
}
let env: NodeEnv | undefined;
function nodeEnv(): NodeEnv {
  if (env) return env;
  const need = (name: string): string => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run with \`npm run e2e:node\` (scripts/e2e-node.sh)`);
    return v;
  };
  const image = need('E2E_IMAGE');
  const colon = image.lastIndexOf(':');
  if (colon <= image.lastIndexOf('/')) throw new Error(`E2E_IMAGE must be repository:tag, got ${image}`);
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(need('KUBECONFIG'));
  const root = need('E2E_ROOT');
  env = { root, bin: need('E2E_BIN'), kubeconfig: need('KUBECONFIG'), chart: join(root, 'charts', 'mtls-guard'), image: { repository: image.slice(0, colon), tag: image.slice(colon + 1) }, kubeConfig };
  return env;
}
const core = (): k8s.CoreV1Api => nodeEnv().kubeConfig.makeApiClient(k8s.CoreV1Api);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}
function helm(args: readonly string[], timeoutMs = 240_000): Run {
  const e = nodeEnv();
  const r = spawnSync(join(e.bin, 'helm'), args, { cwd: e.root, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, KUBECONFIG: e.kubeconfig } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** helm without blocking the event loop (the request stream keeps running meanwhile). */
function helmAsync(args: readonly string[], timeoutMs: number): Promise<Run> {
  const e = nodeEnv();
  return new Promise((resolve, reject) => {
    const child = spawn(join(e.bin, 'helm'), args, { cwd: e.root, timeout: timeoutMs, env: { ...process.env, KUBECONFIG: e.kubeconfig } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

interface PodState {
  name: string;
  ip: string | undefined;
  ready: boolean;
  terminating: boolean;
  restarts: number;
}
async function podsOf(namespace: string, release: string): Promise<PodState[]> {
  const list = await core().listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/instance=${release}` });
  return list.items.map((p) => ({
    name: p.metadata?.name ?? '',
    ip: p.status?.podIP,
    ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    terminating: p.metadata?.deletionTimestamp !== undefined,
    restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
  }));
}

/**
 * `helm install --wait` of the chart with the node's image in `namespace` (restricted Pod
 * Security), cluster mode off (pods cannot reach the API server here), webhook configurations
 * named after the namespace and matching only the `target` namespace (created, labelled).
 */
async function installRelease(release: string, namespace: string, target: string, values: Record<string, unknown>): Promise<void> {
  const e = nodeEnv();
  await core().createNamespace({ body: { metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } });
  await core().createNamespace({ body: { metadata: { name: target, labels: { [namespace]: 'target' } } } });
  const dir = mkdtempSync(join(tmpdir(), `${namespace}-`));
  const file = join(dir, 'values.yaml');
  writeFileSync(
    file,
    stringify({
      image: { ...e.image, pullPolicy: 'Never' },
      cluster: { enabled: false },
      webhook: { validatingConfigurationName: `${namespace}.validate.mtls-guard.io`, mutatingConfigurationName: `${namespace}.mutate.mtls-guard.io`, matchNamespaceLabels: { [namespace]: 'target' } },
      ...values,
    }),
  );
  try {
    const r = helm(['install', release, e.chart, '-n', namespace, '-f', file, '--wait', '--timeout', '180s']);
    assert.equal(r.status, 0, `helm install: ${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function uninstallRelease(release: string, namespace: string, target: string): Promise<void> {
  helm(['uninstall', release, '-n', namespace, '--wait', '--timeout', '120s']);
  for (const name of [target, namespace]) await core().deleteNamespace({ name }).catch(() => undefined);
}
// ---- end of shared part ----

const RELEASE = 'roll';
const NS = 'e2e-node-roll';
/** Judged namespace: the release's webhooks match only namespaces labelled e2e-node-roll=target. */
const TARGET = 'e2e-node-roll-target';
const RATE_PER_S = 20;
const SPACING_MS = 1000 / RATE_PER_S;
/** 150 s of stream at most: the roll takes ~20-30 s on this node. */
const MAX_REQUESTS = 3000;
/** Requests kept going after the roll is over (old pods deleted, new ones Ready). */
const TAIL_MS = 3000;
/** Above kube-apiserver's own --request-timeout (60 s): the API server's answer, whatever it is, arrives first. */
const REQUEST_TIMEOUT_MS = 65_000;

interface Outcome {
  i: number;
  /** ms since the stream started, when the request was sent / answered. */
  sentAt: number;
  ms: number;
  ok: boolean;
  detail: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The stream's client: one keep-alive HTTPS agent with the admin kubeconfig's credentials, as
 * kubectl or a controller keeps its connections (client-node makes a new agent, so a new TLS
 * handshake, per call, which on this shared 2-core machine cost more than the roll itself).
 */
type Post = (path: string, body: unknown) => Promise<{ status: number; body: string }>;
async function apiClient(): Promise<Post> {
  const e = nodeEnv();
  const server = new URL(e.kubeConfig.getCurrentCluster()?.server ?? '');
  const tls: https.RequestOptions = {};
  await e.kubeConfig.applyToHTTPSOptions(tls);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca: tls.ca, cert: tls.cert, key: tls.key });
  return (path, body) =>
    new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = https.request(
        { host: server.hostname, port: server.port, path, method: 'POST', agent, timeout: REQUEST_TIMEOUT_MS, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms (client timeout)`)));
      req.on('error', reject);
      req.end(payload);
    });
}

/** Even: a Deployment that must come back mutated; odd: a PeerAuthentication DISABLE that must be denied. */
async function admit(post: Post, i: number, sentAt: number, now: () => number): Promise<Omit<Outcome, 'i' | 'sentAt' | 'ms'>> {
  const name = `roll-${i}`;
  try {
    if (i % 2 === 0) {
      const r = await post(`/apis/apps/v1/namespaces/${TARGET}/deployments?dryRun=All`, deployment(TARGET, name));
      if (r.status !== 201) return { ok: false, detail: `HTTP ${r.status}: ${messageOf(r.body)}` };
      const created = JSON.parse(r.body) as k8s.V1Deployment;
      const ok = created.spec?.template.metadata?.annotations?.['sidecar.istio.io/rewriteAppHTTPProbers'] === 'true';
      return { ok, detail: ok ? 'mutated' : `fail-open: Deployment not mutated: ${JSON.stringify(created.spec?.template.metadata?.annotations)}` };
    }
    const r = await post(`/apis/security.istio.io/v1/namespaces/${TARGET}/peerauthentications?dryRun=All`, peerAuthentication(TARGET, name, { mtls: { mode: 'DISABLE' } }));
    if (r.status === 201) return { ok: false, detail: 'fail-open: PeerAuthentication DISABLE admitted' };
    const message = messageOf(r.body);
    const ok = r.status === 403 && message.includes(`${DENIED_PREFIX}PeerAuthentication ${TARGET}/${name} violates 1 mTLS guardrail`);
    return { ok, detail: ok ? 'denied' : `HTTP ${r.status}: ${message}` };
  } catch (err) {
    return { ok: false, detail: `${err instanceof Error ? err.message : String(err)} (after ${now() - sentAt} ms)` };
  }
}

/** The Status message of an API error body (what kubectl prints after "Error from server"). */
function messageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : body.slice(0, 300);
  } catch {
    return body.slice(0, 300);
  }
}

/** client-node's model classes as plain JSON, for deepEqual. */
const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

const ready = (p: PodState): boolean => p.ready && !p.terminating;

describe('node scenario 3: helm upgrade rolls two replicas under a steady stream of admissions', () => {
  before(async () => {
    await installRelease(RELEASE, NS, TARGET, { replicaCount: 2 });
  });

  after(async () => {
    await uninstallRelease(RELEASE, NS, TARGET);
  });

  it(`answers every dry-run create (${RATE_PER_S}/s) while the pods are replaced one by one`, async () => {
    const before = await podsOf(NS, RELEASE);
    assert.equal(before.length, 2, `two pods before the roll: ${JSON.stringify(before)}`);
    assert.ok(before.every(ready), `both Ready before the roll: ${JSON.stringify(before)}`);
    const oldNames = new Set(before.map((p) => p.name));
    // Kubernetes 1.36 here: the chart's preStopAction auto picks the kubelet's own sleep action.
    const rendered = await nodeEnv().kubeConfig.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: `${RELEASE}-mtls-guard`, namespace: NS });
    assert.deepEqual(plain(rendered.spec?.template.spec?.containers[0]?.lifecycle?.preStop), { sleep: { seconds: 5 } });
    assert.deepEqual(plain(rendered.spec?.strategy?.rollingUpdate), { maxUnavailable: 0, maxSurge: 1 });
    const pdb = await nodeEnv().kubeConfig.makeApiClient(k8s.PolicyV1Api).readNamespacedPodDisruptionBudget({ name: `${RELEASE}-mtls-guard`, namespace: NS });
    assert.equal(pdb.status?.currentHealthy, 2, 'the PodDisruptionBudget sees both pods');

    const t0 = Date.now();
    const at = (): number => Date.now() - t0;
    const timeline: string[] = [];
    let rollDoneAt: number | undefined;

    // The stream: one create every SPACING_MS, not waiting for answers, until the roll is over
    // plus TAIL_MS, or MAX_REQUESTS.
    const post = await apiClient();
    const pending: Promise<Outcome>[] = [];
    const send = async (i: number): Promise<Outcome> => {
      const sentAt = at();
      const r = await admit(post, i, sentAt, at);
      return { i, sentAt, ms: at() - sentAt, ...r };
    };
    const stream = (async () => {
      for (let i = 0; i < MAX_REQUESTS; i++) {
        if (rollDoneAt !== undefined && at() > rollDoneAt + TAIL_MS) break;
        const due = i * SPACING_MS;
        if (due > at()) await sleep(due - at());
        pending.push(send(i));
      }
    })();

    // The roll: after 2 s of stream, a helm upgrade that changes only a pod annotation.
    await sleep(2000);
    const upgradeStartedAt = at();
    timeline.push(`${upgradeStartedAt} ms helm upgrade`);
    const upgrade = helmAsync(['upgrade', RELEASE, nodeEnv().chart, '-n', NS, '--reuse-values', '--set-string', `podAnnotations.e2e-rollout=${String(t0)}`, '--wait', '--timeout', '180s'], 200_000);

    // Watch the pods until both old ones are deleted and two new ones are Ready.
    let seen = '';
    let after: PodState[] = [];
    await waitFor(
      'the roll to finish: old pods deleted, two new pods Ready',
      async () => {
        after = await podsOf(NS, RELEASE);
        const state = after.map((p) => `${p.name}${oldNames.has(p.name) ? '(old)' : ''}:${p.terminating ? 'terminating' : p.ready ? 'ready' : 'not-ready'}`).join(' ');
        if (state !== seen) timeline.push(`${at()} ms ${(seen = state)}`);
        const done = after.length === 2 && after.every((p) => !oldNames.has(p.name) && ready(p));
        if (done) rollDoneAt = at();
        return done;
      },
      { timeoutMs: 150_000, intervalMs: 200 },
    );
    await stream;
    const outcomes = await Promise.all(pending);
    const helmRun = await upgrade;
    const failed = outcomes.filter((o) => !o.ok);
    const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b);
    const pct = (q: number): number => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN;
    const report =
      `${outcomes.length} sent over ${at()} ms, ${failed.length} failed` +
      (failed.length ? ` (sent between ${failed[0]?.sentAt} and ${failed.at(-1)?.sentAt} ms)` : '') +
      `; answer time p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${ms.at(-1) ?? NaN} ms; ` +
      `timeline:\n  ${timeline.join('\n  ')}`;
    console.log(report);
    assert.equal(helmRun.status, 0, `helm upgrade: ${helmRun.stderr}`);
    assert.deepEqual(
      failed.slice(0, 10).map((o) => `#${o.i} at ${o.sentAt} ms: ${o.detail}`),
      [],
      `zero failed admissions expected; ${report}`,
    );
    // The stream really ran across the whole roll: before the upgrade and past the old pods' end.
    assert.ok((outcomes[0]?.sentAt ?? Infinity) < upgradeStartedAt, 'the stream started before the upgrade');
    assert.ok((outcomes.at(-1)?.sentAt ?? 0) >= (rollDoneAt ?? Infinity), 'the stream ran until the roll was over');
    assert.equal(outcomes.filter((o) => o.detail === 'denied').length + outcomes.filter((o) => o.detail === 'mutated').length, outcomes.length);

    // Two new pods, Ready, never restarted, and the old ones left through their preStop hook.
    assert.equal(after.length, 2);
    for (const p of after) {
      assert.ok(!oldNames.has(p.name), `${p.name} is a new pod`);
      assert.ok(ready(p), `${p.name} Ready`);
      assert.equal(p.restarts, 0, `${p.name} never restarted`);
    }
    const events = await core().listNamespacedEvent({ namespace: NS });
    const hookFailures = (events.items ?? []).filter((e) => e.reason === 'FailedPreStopHook' || e.reason === 'FailedKillPod');
    assert.deepEqual(hookFailures.map((e) => `${e.involvedObject.name}: ${e.reason}: ${e.message ?? ''}`), [], 'the old pods stopped through preStop and the drain');
  });

  it('helm reports the release deployed at revision 2', () => {
    const r = helm(['status', RELEASE, '-n', NS, '-o', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const status = JSON.parse(r.stdout) as { version: number; info: { status: string } };
    assert.equal(status.version, 2);
    assert.equal(status.info.status, 'deployed');
  });
});
