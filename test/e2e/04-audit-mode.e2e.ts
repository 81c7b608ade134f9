// Scenario 4: audit mode through a policy reload (no restart). A namespaces[] override puts
// bookinfo-audit in audit mode: the ratings PeerAuthentication is created, kubectl prints our
// warning, and the API server's audit log carries our audit annotations.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ensureNamespace, readObject, templateAnnotations, waitFor } from './lib/cluster.js';
import { e2eEnv } from './lib/env.js';
import { deniedMessage, deployment, ourWarning, peerAuthentication, serverErrors, SIDECAR_ANNOTATIONS, yamlDocs } from './lib/manifests.js';
import { basePolicy, metric, restoreBasePolicy, writePolicy } from './lib/server.js';
import { kubectl, show, warnings } from './lib/tools.js';

const NS = 'bookinfo-audit';
const RATINGS_SPEC = { selector: { matchLabels: { app: 'ratings' } }, mtls: { mode: 'DISABLE' } };

interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  objectRef?: { resource?: string; namespace?: string; name?: string };
  annotations?: Record<string, string>;
}

function auditEvents(): AuditEvent[] {
  return readFileSync(e2eEnv().auditLog, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as AuditEvent);
}

/** The ResponseComplete event of a create of `resource` NS/name (the audit log is written as requests finish). */
async function auditEventFor(resource: string, name: string): Promise<AuditEvent> {
  let found: AuditEvent | undefined;
  await waitFor(`the audit event of creating ${resource} ${NS}/${name}`, () => {
    found = auditEvents().find(
      (e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === resource && e.objectRef.namespace === NS && e.objectRef.name === name,
    );
    return found !== undefined;
  }, 10_000);
  return found as AuditEvent;
}

describe('scenario 4: audit mode, switched on by a policy reload', () => {
  before(async () => {
    await ensureNamespace(NS);
    const policy = basePolicy();
    policy['namespaces'] = [{ match: NS, mode: 'audit' }, ...((policy['namespaces'] as unknown[] | undefined) ?? [])];
    await writePolicy(policy);
  });
  after(async () => {
    await restoreBasePolicy();
  });

  it('reloaded the policy without a restart', async () => {
    assert.ok((await metric('mtls_guard_policy_reloads_total', { result: 'success' })) >= 1);
    assert.equal(await metric('mtls_guard_policy_reloads_total', { result: 'error' }), 0);
  });

  it('creates the ratings PeerAuthentication with a one-line kubectl warning', async () => {
    const r = kubectl(['apply', '-f', '-'], { input: yamlDocs(peerAuthentication(NS, 'ratings-mtls-disable', RATINGS_SPEC)) });
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout.trim(), 'peerauthentication.security.istio.io/ratings-mtls-disable created');
    const w = warnings(r);
    assert.equal(w.length, 1, show(r));
    const rest = ourWarning(w[0], 'peerauthentication-disable', 'PeerAuthentication bookinfo-audit/ratings-mtls-disable');
    assert.match(rest, /spec\.mtls\.mode: DISABLE/);
    assert.match(rest, /audit mode/);
    const stored = await readObject('security.istio.io/v1', 'PeerAuthentication', NS, 'ratings-mtls-disable');
    assert.deepEqual((stored?.['spec'] as { mtls?: unknown } | undefined)?.mtls, { mode: 'DISABLE' });
  });

  it('records validate.mtls-guard.io/violations and /mode in the API server audit log', async () => {
    const event = await auditEventFor('peerauthentications', 'ratings-mtls-disable');
    assert.equal(event.annotations?.['validate.mtls-guard.io/mode'], 'audit', JSON.stringify(event));
    assert.match(event.annotations?.['validate.mtls-guard.io/violations'] ?? '', /peerauthentication-disable/, JSON.stringify(event));
  });

  it('changes no pod template in audit mode; the would-be mutation is a warning and an audit annotation', async () => {
    const r = kubectl(['apply', '-f', '-'], { input: yamlDocs(deployment(NS, 'reviews')) });
    assert.equal(r.status, 0, show(r));
    const w = warnings(r);
    const mutations = w.filter((l) => l.startsWith('Warning: mtls-guard: [mutation] '));
    assert.equal(mutations.length, 2, show(r));
    for (const key of Object.keys(SIDECAR_ANNOTATIONS)) {
      const line = mutations.find((l) => l.includes(key));
      assert.ok(line, `no would-be mutation warning for ${key}\n${show(r)}`);
      assert.match(ourWarning(line, 'mutation', 'Deployment bookinfo-audit/reviews'), /audit mode/);
    }
    assert.equal(templateAnnotations(await readObject('apps/v1', 'Deployment', NS, 'reviews')), undefined, 'audit mode must not change the object');
    const event = await auditEventFor('deployments', 'reviews');
    assert.match(event.annotations?.['mutate.mtls-guard.io/mutations'] ?? '', /sidecar\.istio\.io\/rewriteAppHTTPProbers/, JSON.stringify(event));
    assert.equal(event.annotations?.['mutate.mtls-guard.io/mode'], 'audit', JSON.stringify(event));
  });

  it('still enforces in other namespaces (the override is per namespace)', () => {
    const r = kubectl(['apply', '-f', '-'], { input: yamlDocs(peerAuthentication('bookinfo', 'ratings-still-denied', RATINGS_SPEC)) });
    assert.equal(r.status, 1, show(r));
    const [error] = serverErrors(r.stderr);
    assert.match(deniedMessage(error ?? '') ?? '', /^PeerAuthentication bookinfo\/ratings-still-denied violates 1 mTLS guardrail/);
  });
});
