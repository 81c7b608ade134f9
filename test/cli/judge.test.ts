// How `check` names objects: as the server does, and without a namespace the object cannot have.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkManifest, engineRequest } from '../../src/cli/judge.js';
import { palette } from '../../src/cli/colour.js';
import { formatObject } from '../../src/cli/format-text.js';
import { toResult } from '../../src/cli/format-json.js';
import type { Manifest } from '../../src/cli/manifests.js';
import { decodeReview } from '../../src/admission/review.js';
import { defaultPolicy } from '../../src/engine/index.js';


function manifest(apiVersion: string, kind: string, metadata: Record<string, unknown>, spec: unknown = {}): Manifest {
  const m: Manifest = { source: 'f.yaml#1', apiVersion, kind, name: typeof metadata['name'] === 'string' ? metadata['name'] : '', object: { apiVersion, kind, metadata, spec } };
  if (typeof metadata['namespace'] === 'string') m.namespace = metadata['namespace'];
  return m;
}

describe('check names objects', () => {
  test('a cluster-scoped object is not given the -n namespace', () => {
    const m = manifest('v1', 'Namespace', { name: 'bookinfo' });
    assert.equal(engineRequest(m, 'default').namespace, '');
    const c = checkManifest(m, defaultPolicy(), 'default');
    assert.match(formatObject(c, palette(false))[0] ?? '', /Namespace bookinfo /);
    assert.equal(toResult(c).namespace, '');
  });

  test('a namespaced object without a namespace takes -n', () => {
    assert.equal(engineRequest(manifest('v1', 'Service', { name: 'web' }), 'shop').namespace, 'shop');
  });

  test('an object with only generateName reads the same as on the server', () => {
    const object = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { generateName: 'to-db-', namespace: 'shop' }, spec: { host: 'db', trafficPolicy: { tls: { mode: 'DISABLE' } } } };
    const m = manifest('networking.istio.io/v1', 'DestinationRule', object.metadata, object.spec);
    const c = checkManifest(m, defaultPolicy(), 'default');
    const decoded = decodeReview({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u', kind: { group: 'networking.istio.io', version: 'v1', kind: 'DestinationRule' }, operation: 'CREATE', namespace: 'shop', object },
    });
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
    assert.equal(c.request.name, decoded.review.request.name);
    assert.equal(c.request.name, 'to-db-<generated>');
    assert.match(c.validation.refusal?.message ?? '', /^DestinationRule shop\/to-db-<generated> violates/);
  });
});
