// Node scenario 4 (issue 14): the chart's policy ConfigMap edited in place (`kubectl patch`, as an
// operator would, with policyRollout off so nothing rolls the pods) reaches the running pods
// through the kubelet (it swaps the volume's `..data` symlink on its next sync of the pod), and
// each pod's server reloads it without a restart:
//   1. an allowlist entry for the judged namespace is added: a PeerAuthentication DISABLE that
//      was refused is admitted;
//   2. an invalid policy is written: every pod refuses it (reloads{result="error"}), keeps the
//      previous one in force and stays Ready;
//   3. the original policy is put back: the same request is refused again.
// Each step waits (bounded) for the reload counter of EVERY pod, read on its own metrics port at
// its pod IP, so the answer through the API server cannot come from a pod that has not reloaded.
// Throughout: the same two pods (uid), restartCount 0.
//
// How long the kubelet takes: it rewrites a ConfigMap volume when it syncs the pod, every
// syncFrequency (the node here sets 10 s; the kubelet's default is 1 minute) plus jitter, and
// configMapAndSecretChangeDetectionStrategy Watch (the default) has the new content at hand by then.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { DENIED_PREFIX, peerAuthentication, yamlDocs } from '../e2e/lib/manifests.js';
import { createTarget, installRelease, kubectl, kubectlJson, ok, ownWebhookArgs, podReady, releasePods, show, uninstallRelease, waitFor, type Pod } from './lib.js';

const RELEASE = 'n04';
const NS = 'mtls-guard-n04';
/** The judged namespace: this release's webhooks match only namespaces labelled n04=target. */
const TARGET = 'n04-target';
const CONFIGMAP = `${RELEASE}-mtls-guard-policy`;
/** Kubelet sync (10 s here, 60 s by default) + jitter + the server's settle: 150 s bounds either. */
const RELOAD_TIMEOUT_MS = 150_000;

type Policy = { rules: Record<string, { action: string; allow: Record<string, unknown>[] }> } & Record<string, unknown>;

const restarts = (p: Pod): number => (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);

/** Sum of a metric's samples whose labels include `labels`, from one pod's metrics port. */
async function podMetric(pod: Pod, name: string, labels: Record<string, string>): Promise<number> {
  const res = await fetch(`http://${pod.status.podIP ?? ''}:9090/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

const reloads = (pod: Pod, result: 'success' | 'error'): Promise<number> => podMetric(pod, 'mtls_guard_policy_reloads_total', { result });

function readPolicy(): { text: string; policy: Policy } {
  const cm = kubectlJson<{ data: Record<string, string> }>(['-n', NS, 'get', 'configmap', CONFIGMAP]);
  const text = cm.data['policy.yaml'];
  assert.ok(text, `${CONFIGMAP} has policy.yaml`);
  return { text, policy: parse(text) as Policy };
}

/** `kubectl patch` of the ConfigMap's policy.yaml, in place. */
function patchPolicy(text: string): void {
  ok(kubectl(['-n', NS, 'patch', 'configmap', CONFIGMAP, '--type', 'merge', '-p', JSON.stringify({ data: { 'policy.yaml': text } })]));
}

/** Waits until every pod's reloads{result} counter is above what it was in `before`. */
async function waitForEveryPod(pods: Pod[], result: 'success' | 'error', before: Map<string, number>, what: string): Promise<number> {
  const t0 = Date.now();
  await waitFor(
    `every pod to ${what} (mtls_guard_policy_reloads_total{result="${result}"} up on each)`,
    async () => {
      for (const p of pods) if ((await reloads(p, result)) <= (before.get(p.metadata.name) ?? 0)) return false;
      return true;
    },
    RELOAD_TIMEOUT_MS,
    1000,
  );
  return Date.now() - t0;
}

async function counters(pods: Pod[], result: 'success' | 'error'): Promise<Map<string, number>> {
  return new Map(await Promise.all(pods.map(async (p) => [p.metadata.name, await reloads(p, result)] as const)));
}

/** A server-side dry run of the PeerAuthentication DISABLE: 'denied', 'admitted' or the error. */
function tryDisable(name: string): string {
  const r = kubectl(['apply', '--dry-run=server', '-f', '-'], { input: yamlDocs(peerAuthentication(TARGET, name, { mtls: { mode: 'DISABLE' } })) });
  if (r.status === 0) return 'admitted';
  return r.stderr.includes(`${DENIED_PREFIX}PeerAuthentication ${TARGET}/${name} violates 1 mTLS guardrail`) ? 'denied' : show(r);
}

/** The answer of a few requests in a row (both pods get some: the API server spreads them). */
function answers(n: number): string[] {
  return [...new Set(Array.from({ length: n }, (_, i) => tryDisable(`edit-${i}`)))];
}

describe('node scenario 4: the policy ConfigMap edited in place reaches the pods without a restart', () => {
  let pods: Pod[] = [];

  before(() => {
    installRelease({
      release: RELEASE,
      namespace: NS,
      namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'restricted' },
      args: [
        '--set', 'policyRollout=false',
        ...ownWebhookArgs(RELEASE, NS),
      ],
    });
    createTarget(RELEASE, TARGET);
    pods = releasePods(RELEASE, NS);
    assert.equal(pods.length, 2);
  });

  after(async () => {
    kubectl(['delete', 'namespace', TARGET, '--ignore-not-found', '--wait=false']);
    await uninstallRelease(RELEASE, NS);
  });

  /** The same pods as at the start, Ready, never restarted. */
  function assertSamePods(): void {
    const now = releasePods(RELEASE, NS);
    assert.deepEqual(now.map((p) => p.metadata.uid).sort(), pods.map((p) => p.metadata.uid).sort(), 'the same two pods');
    for (const p of now) {
      assert.ok(podReady(p), `${p.metadata.name} Ready`);
      assert.equal(restarts(p), 0, `${p.metadata.name} never restarted`);
    }
  }

  let original = '';

  it('refuses a PeerAuthentication DISABLE under the installed policy', () => {
    original = readPolicy().text;
    assert.deepEqual(answers(6), ['denied']);
  });

  it('admits it once an allowlist entry added to the ConfigMap reaches every pod', async () => {
    const { policy } = readPolicy();
    policy.rules['peerauthentication-disable']?.allow.push({ namespace: TARGET, reason: 'node scenario 4: edited in place' });
    const before = await counters(pods, 'success');
    patchPolicy(stringify(policy));
    const ms = await waitForEveryPod(pods, 'success', before, 'reload the edited policy');
    console.log(`allowlist edit reloaded by both pods ${ms} ms after kubectl patch`);
    assert.deepEqual(answers(6), ['admitted']);
    assertSamePods();
  });

  it('refuses an invalid edit: every pod keeps the previous policy and stays Ready', async () => {
    const { policy } = readPolicy();
    const broken = { ...policy, rules: { ...policy.rules, 'peerauthentication-disable': { action: 'sometimes', allow: [] } } };
    const before = await counters(pods, 'error');
    patchPolicy(stringify(broken));
    await waitForEveryPod(pods, 'error', before, 'refuse the invalid policy');
    assert.deepEqual(answers(6), ['admitted'], 'the allowlist of the last valid policy is still in force');
    assertSamePods();
  });

  it('refuses it again once the original policy is put back', async () => {
    const before = await counters(pods, 'success');
    patchPolicy(original);
    await waitForEveryPod(pods, 'success', before, 'reload the original policy');
    assert.deepEqual(answers(6), ['denied']);
    assertSamePods();
  });
});
