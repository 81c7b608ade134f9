// Scenario 6: a violating object that existed before mtls-guard judged its namespace can still be
// relabelled (UPDATE allowed with a pre-existing warning) and deleted. It is created while the
// namespace carries mtls-guard.io/ignore=true (the chart's namespaceSelector then skips it),
// which also proves that opt-out label.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureNamespace, objects, readObject, setNamespaceLabels, statusMessage, waitFor } from './lib/cluster.js';
import { deniedMessage, ourWarning, peerAuthentication, serverErrors, yamlDocs } from './lib/manifests.js';
import { kubectl, show, warnings } from './lib/tools.js';

const NS = 'e2e-preexisting';
const legacy = peerAuthentication(NS, 'legacy-disable', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'DISABLE' } });

/** Whether validate.mtls-guard.io currently judges NS (the API server caches namespace labels). */
async function judged(): Promise<boolean> {
  const probe = peerAuthentication(NS, 'probe', { mtls: { mode: 'DISABLE' } });
  try {
    await objects().create(probe as never, undefined, 'All');
    return false;
  } catch (err) {
    if (statusMessage(err).includes('admission webhook "validate.mtls-guard.io" denied the request')) return true;
    throw err;
  }
}

describe('scenario 6: an object that predates the webhook', () => {
  before(async () => {
    await ensureNamespace(NS, { 'mtls-guard.io/ignore': 'true' });
    await waitFor('the API server to skip the ignored namespace', async () => !(await judged()));
    const r = kubectl(['apply', '-f', '-'], { input: yamlDocs(legacy) });
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(warnings(r), [], 'not judged at all while ignored');
    await setNamespaceLabels(NS, { 'mtls-guard.io/ignore': null });
    await waitFor('the API server to judge the namespace again', judged);
  });
  after(async () => {
    await setNamespaceLabels(NS, { 'mtls-guard.io/ignore': null });
  });

  it('exists, created while the namespace was ignored', async () => {
    assert.ok(await readObject(legacy.apiVersion, legacy.kind, NS, 'legacy-disable'));
  });

  it('can be labelled: the UPDATE is allowed with a pre-existing warning', async () => {
    const r = kubectl(['label', '-n', NS, 'peerauthentication/legacy-disable', 'owner=team-reviews']);
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout.trim(), 'peerauthentication.security.istio.io/legacy-disable labeled');
    const w = warnings(r);
    assert.equal(w.length, 1, show(r));
    const rest = ourWarning(w[0], 'peerauthentication-disable', 'PeerAuthentication e2e-preexisting/legacy-disable');
    assert.match(rest, /spec\.mtls\.mode: DISABLE/);
    assert.match(rest, /pre-existing/);
    const stored = await readObject(legacy.apiVersion, legacy.kind, NS, 'legacy-disable');
    assert.equal(stored?.metadata?.labels?.['owner'], 'team-reviews');
  });

  it('cannot be pointed at other workloads: that UPDATE is a new violation', async () => {
    const r = kubectl(['patch', '-n', NS, 'peerauthentication/legacy-disable', '--type=merge', '-p', '{"spec":{"selector":{"matchLabels":{"app":"ratings"}}}}']);
    assert.equal(r.status, 1, show(r));
    const message = deniedMessage(serverErrors(r.stderr)[0] ?? '');
    assert.match(message ?? '', /^PeerAuthentication e2e-preexisting\/legacy-disable violates 1 mTLS guardrail:\n\[peerauthentication-disable\] spec\.mtls\.mode: DISABLE \(workload scope: pods with app=ratings/, show(r));
    const stored = await readObject(legacy.apiVersion, legacy.kind, NS, 'legacy-disable');
    assert.deepEqual((stored?.['spec'] as { selector?: unknown } | undefined)?.selector, { matchLabels: { app: 'reviews' } });
  });

  it('can be deleted', async () => {
    const r = kubectl(['delete', '-n', NS, 'peerauthentication/legacy-disable']);
    assert.equal(r.status, 0, show(r));
    // kubectl >= 1.33 adds "from <namespace> namespace".
    assert.match(r.stdout.trim(), /^peerauthentication\.security\.istio\.io "legacy-disable" deleted( from e2e-preexisting namespace)?$/);
    assert.equal(await readObject(legacy.apiVersion, legacy.kind, NS, 'legacy-disable'), undefined);
  });
});
