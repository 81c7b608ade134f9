// What the mesh model reads from the policy (ModelInputs): cluster mode keeps its model across a
// reload when sameModelInputs says the new policy builds the same one, so a false "same" would
// judge with a model of the wrong root namespace, domain or workload kinds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { policySchema } from '../../src/engine/index.js';
import { MeshModel, sameModelInputs } from '../../src/mesh/index.js';

const rollout = { group: 'example.com', kind: 'Rollout', resource: 'rollouts', templatePath: 'spec.template' };

test('sameModelInputs: rules, actions and allowlists do not matter; root namespace, cluster domain and workload kinds (by value) do', () => {
  const base = policySchema.parse({ workloadKinds: [rollout] });
  const rulesOnly = policySchema.parse({ workloadKinds: [{ ...rollout }], mode: 'audit', rules: { 'destinationrule-disable': { action: 'warn', allow: [{ host: 'a.b.svc.cluster.local', reason: 'reviewed' }] } } });
  assert.equal(sameModelInputs(base, rulesOnly), true);
  assert.equal(sameModelInputs(base, policySchema.parse({ workloadKinds: [rollout], meshRootNamespace: 'mesh-root' })), false);
  assert.equal(sameModelInputs(base, policySchema.parse({ workloadKinds: [rollout], clusterDomain: 'corp.local' })), false);
  assert.equal(sameModelInputs(base, policySchema.parse({})), false);
  assert.equal(sameModelInputs(base, policySchema.parse({ workloadKinds: [{ ...rollout, templatePath: 'spec.podTemplate' }] })), false);
});

test('a model built from ModelInputs alone answers as one built from the whole policy', () => {
  const policy = policySchema.parse({ meshRootNamespace: 'mesh-root', clusterDomain: 'corp.local', workloadKinds: [rollout] });
  const objects = [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
    { apiVersion: 'example.com/v1', kind: 'Rollout', metadata: { name: 'web', namespace: 'shop' }, spec: { template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', ports: [{ containerPort: 8080 }] }] } } } },
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'mesh-root' }, spec: { mtls: { mode: 'STRICT' } } },
  ];
  const inputs = { meshRootNamespace: policy.meshRootNamespace, clusterDomain: policy.clusterDomain, workloadKinds: policy.workloadKinds };
  const whole = MeshModel.build(objects, policy).serverPorts();
  assert.deepEqual(MeshModel.build(objects, inputs).serverPorts(), whole);
  assert.equal(whole.length, 1, 'the Rollout is a workload (workloadKinds) with one port');
  assert.equal(whole[0]?.mode, 'STRICT', 'mesh-wide from mesh-root (meshRootNamespace)');
});
