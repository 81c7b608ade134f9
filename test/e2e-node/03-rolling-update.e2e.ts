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
// idle keep-alive connections ended, in-flight reviews finished). Known to fail now and then
// (1 run in 5 here, 2 reviews of ~900) with `Post "...": EOF` just after an old pod's SIGTERM: the
// drain ends an idle keep-alive connection as the API server writes a review onto it (the chart
// README's "A rolling update under load" says what the server needs).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { DENIED_PREFIX, deployment, peerAuthentication } from '../e2e/lib/manifests.js';
import { createTarget, helm, installRelease, kubectl, kubectlAsync, kubectlJson, nodeEnv, ownWebhookArgs, podReady, show, uninstallRelease, waitFor, type Pod, type Run } from './lib.js';

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
    child.once('close', (status) => resolve({ command: `helm ${args.join(' ')}`, status, stdout, stderr }));
  });
}

/** The release's pods, read without blocking the event loop. */
async function podsNow(release: string, namespace: string): Promise<Pod[]> {
  const r = await kubectlAsync(['-n', namespace, 'get', 'pods', '-l', `app.kubernetes.io/instance=${release}`, '-o', 'json'], { timeoutMs: 30_000 });
  if (r.status !== 0) throw new Error(show(r));
  return (JSON.parse(r.stdout) as { items: Pod[] }).items;
}

const RELEASE = 'n03';
const NS = 'mtls-guard-n03';
/** The judged namespace: this release's webhooks match only namespaces labelled n03=target. */
const TARGET = 'n03-target';
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
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(nodeEnv().kubeconfig);
  const server = new URL(kubeConfig.getCurrentCluster()?.server ?? '');
  const tls: https.RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(tls);
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
  const name = `load-${i}`;
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

const terminating = (p: Pod): boolean => p.metadata.deletionTimestamp !== undefined;
const ready = (p: Pod): boolean => podReady(p) && !terminating(p);
const restarts = (p: Pod): number => (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);

describe('node scenario 3: helm upgrade rolls two replicas under a steady stream of admissions', () => {
  before(() => {
    installRelease({
      release: RELEASE,
      namespace: NS,
      namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'restricted' },
      args: [
        '--set', 'replicaCount=2',
        ...ownWebhookArgs(RELEASE, NS),
      ],
    });
    createTarget(RELEASE, TARGET);
  });

  after(async () => {
    kubectl(['delete', 'namespace', TARGET, '--ignore-not-found', '--wait=false']);
    await uninstallRelease(RELEASE, NS);
  });

  it(`answers every dry-run create (${RATE_PER_S}/s) while the pods are replaced one by one`, async () => {
    const before = await podsNow(RELEASE, NS);
    assert.equal(before.length, 2, `two pods before the roll: ${JSON.stringify(before)}`);
    assert.ok(before.every(ready), `both Ready before the roll: ${JSON.stringify(before)}`);
    const oldNames = new Set(before.map((p) => p.metadata.name));
    // Kubernetes 1.36 here: the chart's preStopAction auto picks the kubelet's own sleep action.
    const rendered = kubectlJson<k8s.V1Deployment>(['-n', NS, 'get', 'deployment', `${RELEASE}-mtls-guard`]);
    assert.deepEqual(rendered.spec?.template.spec?.containers[0]?.lifecycle?.preStop, { sleep: { seconds: 5 } });
    assert.deepEqual(rendered.spec?.strategy?.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
    const pdb = kubectlJson<k8s.V1PodDisruptionBudget>(['-n', NS, 'get', 'poddisruptionbudget', `${RELEASE}-mtls-guard`]);
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
    let after: Pod[] = [];
    await waitFor(
      'the roll to finish: old pods deleted, two new pods Ready',
      async () => {
        after = await podsNow(RELEASE, NS);
        const state = after
          .map((p) => `${p.metadata.name}${oldNames.has(p.metadata.name) ? '(old)' : ''}:${terminating(p) ? 'terminating' : podReady(p) ? 'ready' : 'not-ready'}`)
          .join(' ');
        if (state !== seen) timeline.push(`${at()} ms ${(seen = state)}`);
        const done = after.length === 2 && after.every((p) => !oldNames.has(p.metadata.name) && ready(p));
        if (done) rollDoneAt = at();
        return done;
      },
      150_000,
      500,
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
      assert.ok(!oldNames.has(p.metadata.name), `${p.metadata.name} is a new pod`);
      assert.ok(ready(p), `${p.metadata.name} Ready`);
      assert.equal(restarts(p), 0, `${p.metadata.name} never restarted`);
    }
    const events = kubectlJson<{ items: k8s.CoreV1Event[] }>(['-n', NS, 'get', 'events']);
    const hookFailures = events.items.filter((e) => e.reason === 'FailedPreStopHook' || e.reason === 'FailedKillPod');
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
