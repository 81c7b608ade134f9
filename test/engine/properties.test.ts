// Property tests: the engine never throws on whatever JSON a client sends, and the mutation
// patch is idempotent (apply it, evaluate again: no patch), which reinvocationPolicy relies on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { type AdmissionOperation, defaultPolicy, type EngineRequest, evaluate, type GroupVersionKind } from '../../src/engine/index.js';
import { dig } from '../../src/engine/read.js';
import { policyFromObject } from '../../src/policy/load.js';

const kinds: GroupVersionKind[] = [
  { group: 'security.istio.io', version: 'v1', kind: 'PeerAuthentication' },
  { group: 'networking.istio.io', version: 'v1alpha3', kind: 'DestinationRule' },
  { group: 'apps', version: 'v1', kind: 'Deployment' },
  { group: 'batch', version: 'v1', kind: 'CronJob' },
  { group: 'apps.openshift.io', version: 'v1', kind: 'DeploymentConfig' },
];

const modeValue = fc.constantFrom('DISABLE', 'STRICT', 'PERMISSIVE', 'UNSET', 'ISTIO_MUTUAL', 'disable', '', 7, null);
// Objects that look like the real thing at random depths, mixed with arbitrary JSON anywhere.
const plausible = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue(),
    modeValue,
    fc.dictionary(fc.constantFrom('spec', 'mtls', 'mode', 'selector', 'matchLabels', 'portLevelMtls', 'trafficPolicy', 'tls',
      'portLevelSettings', 'subsets', 'host', 'template', 'metadata', 'annotations', 'labels', 'jobTemplate', 'insecureSkipVerify',
      '9080', 'port', 'number', 'name'), tie('node')),
    fc.array(tie('node'), { maxLength: 3 }),
  ),
})).node;

test('evaluate never throws and always answers coherently on arbitrary objects', () => {
  const policy = defaultPolicy();
  policy.rules['peerauthentication-permissive'].action = 'deny';
  policy.rules['workload-port-exclusion'].action = 'deny';
  fc.assert(
    fc.property(
      fc.constantFrom(...kinds),
      fc.constantFrom<AdmissionOperation>('CREATE', 'UPDATE', 'DELETE'),
      plausible,
      plausible,
      fc.string(),
      (kind, operation, object, oldObject, namespace) => {
        const req: EngineRequest = { kind, operation, namespace, name: 'x', object, oldObject };
        const d = evaluate(req, policy);
        assert.equal(d.failures.length, 0, JSON.stringify(d.failures));
        assert.equal(d.allowed, d.refusal === undefined);
        for (const w of d.warnings) assert.ok(w.length <= 256 && !w.includes('\n'));
        if (!d.allowed) assert.equal(d.patch.length, 0);
      },
    ),
    { numRuns: 3000 },
  );
});

test('the policy loader never throws: arbitrary JSON is a policy or a list of errors', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (doc) => {
      const r = policyFromObject(doc);
      if (!r.ok) assert.ok(r.errors.length > 0 && r.errors.every((e) => typeof e === 'string' && e.length > 0));
    }),
    { numRuns: 2000 },
  );
});

const annotationValue = fc.constantFrom('true', 'false', '', 'cluster_manager', 'listener,cluster', ' tls_inspector , x', 'a,b,,c');
const annotations = fc.dictionary(
  fc.constantFrom('sidecar.istio.io/rewriteAppHTTPProbers', 'sidecar.istio.io/statsInclusionPrefixes', 'sidecar.istio.io/inject',
    'prometheus.io/scrape', 'a~b/c', 'plain'),
  annotationValue,
);
const template = fc.record(
  { metadata: fc.record({ annotations, labels: fc.dictionary(fc.constantFrom('app', 'sidecar.istio.io/inject'), annotationValue) }, { requiredKeys: [] }) },
  { requiredKeys: [] },
);

test('the mutation patch applies cleanly and is idempotent', () => {
  const policy = defaultPolicy();
  fc.assert(
    fc.property(fc.constantFrom(...kinds.slice(2)), template, fc.boolean(), (kind, tpl, onlyInjected) => {
      policy.mutations.onlyInjected = onlyInjected;
      const spec = kind.kind === 'CronJob' ? { jobTemplate: { spec: { template: tpl } } } : { template: tpl };
      const object = { apiVersion: 'x', kind: kind.kind, metadata: { name: 'w' }, spec };
      const req: EngineRequest = { kind, operation: 'CREATE', namespace: 'ns', name: 'w', object };
      const first = evaluate(req, policy, { validate: false, mutate: true });
      const patched = jsonpatch.applyPatch(structuredClone(object), first.patch, true, false).newDocument;
      const second = evaluate({ ...req, object: patched }, policy, { validate: false, mutate: true });
      assert.deepEqual(second.patch, []);
      // The user's own annotations are never removed or changed, except by list merge.
      const before = tpl.metadata?.annotations ?? {};
      const templatePath = kind.kind === 'CronJob' ? ['spec', 'jobTemplate', 'spec', 'template'] : ['spec', 'template'];
      const after = (dig(patched, ...templatePath, 'metadata', 'annotations') ?? {}) as Record<string, string>;
      for (const [k, v] of Object.entries(before)) {
        if (k === 'sidecar.istio.io/statsInclusionPrefixes') assert.ok(after[k]?.startsWith(v), `${k}: ${v} -> ${after[k]}`);
        else assert.equal(after[k], v);
      }
    }),
    { numRuns: 2000 },
  );
});
