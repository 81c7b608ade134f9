// The mesh model reads untrusted JSON (manifests in a repository, objects from a cluster): any
// shape must read as Istio would or as nothing, never throw, since a throw in a mesh-aware rule
// refuses the admission as a bug. Objects of the right kinds with arbitrary fields are fed to the
// model and to every question.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { defaultPolicy, evaluate, type EngineRequest } from '../../src/engine/index.js';
import { MeshModel } from '../../src/mesh/index.js';

const KINDS = [
  ['v1', 'Namespace'],
  ['v1', 'Service'],
  ['apps/v1', 'Deployment'],
  ['networking.istio.io/v1', 'ServiceEntry'],
  ['networking.istio.io/v1', 'DestinationRule'],
  ['security.istio.io/v1', 'PeerAuthentication'],
  ['security.istio.io/v1', 'AuthorizationPolicy'],
] as const;

// Values that reach the readers' branches: right and wrong types, empty and odd strings, nulls.
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(fc.constantFrom(null, '', '*', 'DISABLE', 'STRICT', 'ISTIO_MUTUAL', 'PERMISSIVE', 'UNSET', 'http', 'a', 'ns', 9080, 0, -1, 1.5, true, '9080'), fc.string({ maxLength: 6 }), fc.integer()),
  node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(fc.constantFrom('mode', 'tls', 'port', 'number', 'name', 'labels', 'matchLabels', 'selector', 'ports', 'targetPort', 'containerPort', 'host', 'hosts', 'subsets', 'trafficPolicy', 'portLevelSettings', 'portLevelMtls', 'mtls', 'exportTo', 'workloadSelector', 'rules', 'from', 'source', 'principals', 'namespaces', 'action', 'location', '9080', 'app', 'template', 'spec', 'metadata', 'containers'), tie('node'), { maxKeys: 4 })),
})).node;

const object = fc.record({
  kind: fc.constantFrom(...KINDS),
  name: fc.constantFrom('a', 'b', 'details', ''),
  namespace: fc.constantFrom('istio-system', 'bookinfo', 'other', undefined),
  labels: fc.option(fc.dictionary(fc.constantFrom('app', 'version', 'istio-injection', 'istio.io/dataplane-mode'), fc.constantFrom('a', 'details', 'enabled', 'ambient')), { nil: undefined }),
  spec: value,
  template: value,
}).map(({ kind, name, namespace, labels, spec, template }) => ({
  apiVersion: kind[0],
  kind: kind[1],
  metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}) },
  spec: kind[1] === 'Deployment' ? { template } : spec,
}));

test('any objects of the mesh kinds: the model builds, answers every question and the mesh rules never throw', () => {
  const policy = defaultPolicy();
  fc.assert(
    fc.property(fc.array(object, { maxLength: 12 }), object, (objects, admitted) => {
      const model = MeshModel.build(objects, policy);
      model.serverPorts();
      model.flows();
      model.authorizationConflicts();
      const [group, version] = admitted.apiVersion.includes('/') ? admitted.apiVersion.split('/') : ['', admitted.apiVersion];
      for (const operation of ['CREATE', 'UPDATE', 'DELETE'] as const) {
        const req: EngineRequest = {
          kind: { group: group ?? '', version: version ?? '', kind: admitted.kind },
          operation,
          namespace: admitted.metadata.namespace ?? 'default',
          name: admitted.metadata.name,
          object: operation === 'DELETE' ? null : admitted,
          ...(operation === 'CREATE' ? {} : { oldObject: objects[0] ?? admitted }),
        };
        const decision = evaluate(req, policy, { validate: true, mutate: false, mesh: model });
        assert.deepEqual(decision.failures, [], JSON.stringify(decision.failures));
      }
      // Questions leave the mesh as it was.
      assert.equal(JSON.stringify(model.flows()), JSON.stringify(MeshModel.build(objects, policy).flows()));
    }),
    { numRuns: 400, seed: 20261130 },
  );
});
