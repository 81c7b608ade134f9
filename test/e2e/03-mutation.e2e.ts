// Scenario 3: mutate.mtls-guard.io adds the sidecar annotations to pod templates as stored by the
// API server (Deployment, CronJob, OpenShift DeploymentConfig), leaves opted-out templates alone,
// and is idempotent: re-applying or re-sending the same object changes nothing.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ensureNamespace, objects, readObject, templateAnnotations, type KObject } from './lib/cluster.js';
import { cronJob, deployment, deploymentConfig, ourWarning, SIDECAR_ANNOTATIONS, yamlDocs, type Manifest } from './lib/manifests.js';
import { kubectl, show, warnings } from './lib/tools.js';

const NS = 'e2e-mutate';
const web = deployment(NS, 'web');
const nightly = cronJob(NS, 'nightly');
const legacy = deploymentConfig(NS, 'legacy-dc');
const optedOut = deployment(NS, 'opted-out', { 'sidecar.istio.io/inject': 'false' });
const ALL = [web, nightly, legacy, optedOut];
const MANIFEST = yamlDocs(...ALL);

async function read(m: Manifest): Promise<KObject> {
  const obj = await readObject(m.apiVersion, m.kind, NS, m.metadata.name);
  assert.ok(obj, `${m.kind} ${NS}/${m.metadata.name} is not stored`);
  return obj;
}

async function resourceVersions(): Promise<string[]> {
  return Promise.all(ALL.map(async (m) => (await read(m)).metadata?.resourceVersion ?? ''));
}

describe('scenario 3: sidecar annotations on pod templates', () => {
  before(async () => {
    await ensureNamespace(NS);
  });

  it('stores a Deployment, a CronJob and a DeploymentConfig with both annotations; an opted-out template unchanged', async () => {
    const r = kubectl(['apply', '-f', '-'], { input: MANIFEST });
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'deployment.apps/web created',
      'cronjob.batch/nightly created',
      'deploymentconfig.apps.openshift.io/legacy-dc created',
      'deployment.apps/opted-out created',
    ]);
    assert.deepEqual(warnings(r), []);
    for (const m of [web, nightly, legacy]) assert.deepEqual(templateAnnotations(await read(m)), SIDECAR_ANNOTATIONS, `${m.kind} ${m.metadata.name}`);
    assert.deepEqual(templateAnnotations(await read(optedOut)), { 'sidecar.istio.io/inject': 'false' });
  });

  it('applying the same manifest again changes nothing', async () => {
    const before = await resourceVersions();
    const r = kubectl(['apply', '-f', '-'], { input: MANIFEST });
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'deployment.apps/web unchanged',
      'cronjob.batch/nightly unchanged',
      'deploymentconfig.apps.openshift.io/legacy-dc unchanged',
      'deployment.apps/opted-out unchanged',
    ]);
    assert.deepEqual(await resourceVersions(), before);
  });

  it('an UPDATE that sends the stored object back through both webhooks is a no-op (no patch, no new resourceVersion)', async () => {
    // kubectl skips an empty patch without calling the API server; a PUT of the stored object
    // does reach the webhooks, and any non-idempotent patch would make the API server write.
    const before = await resourceVersions();
    for (const m of ALL) await objects().replace(await read(m));
    assert.deepEqual(await resourceVersions(), before);
  });

  it('keeps the annotations exact through a real UPDATE (kubectl label)', async () => {
    const r = kubectl(['label', '-n', NS, 'deployment/web', 'deploymentconfig/legacy-dc', 'tier=frontend']);
    assert.equal(r.status, 0, show(r));
    for (const m of [web, legacy]) {
      const obj = await read(m);
      assert.equal(obj.metadata?.labels?.['tier'], 'frontend');
      assert.deepEqual(templateAnnotations(obj), SIDECAR_ANNOTATIONS, 'no duplicated list items after a second pass');
    }
  });

  it('warns about inbound ports that bypass the sidecar (workload-port-exclusion is warn by default)', async () => {
    const bypass = deployment(NS, 'bypass', { 'traffic.sidecar.istio.io/excludeInboundPorts': '9080' });
    const r = kubectl(['apply', '-f', '-'], { input: yamlDocs(bypass) });
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout.trim(), 'deployment.apps/bypass created');
    const w = warnings(r);
    assert.equal(w.length, 1, show(r));
    assert.match(ourWarning(w[0], 'workload-port-exclusion', 'Deployment e2e-mutate/bypass'), /excludeInboundPorts/);
    assert.deepEqual(templateAnnotations(await read(bypass)), { 'traffic.sidecar.istio.io/excludeInboundPorts': '9080', ...SIDECAR_ANNOTATIONS });
  });
});
