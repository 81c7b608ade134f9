// GitOps and the mutating webhook: what Argo CD and Flux see when they diff a workload whose pod
// template mtls-guard annotated. The README's "GitOps" part rests on these facts, measured here
// through the real kube-apiserver rather than assumed:
// - a server-side apply dry run (Flux's drift detection; Argo CD's server-side diff with
//   IncludeMutationWebhook=true) returns the annotations the live object has: no drift;
// - nobody owns the added annotations in managedFields, so Argo CD's managedFieldsManagers (which
//   ignores fields by owner) cannot single them out;
// - annotations declared in Git are left exactly as written (the webhook then changes nothing).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { ensureNamespace, readObject, templateAnnotations, type KObject } from './lib/cluster.js';
import { deployment, SIDECAR_ANNOTATIONS, yamlDocs } from './lib/manifests.js';
import { kubectl, show } from './lib/tools.js';

const NS = 'e2e-gitops';
const MANAGER = 'argocd-controller';

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  fieldsV1?: Record<string, unknown>;
}

/** The managers whose fieldsV1 set holds the pod template annotation `key`. */
function ownersOf(obj: KObject, key: string): string[] {
  const entries = ((obj['metadata'] as { managedFields?: ManagedFieldsEntry[] }).managedFields ?? []);
  return entries
    .filter((e) => {
      const annotations = (((e.fieldsV1?.['f:spec'] as Record<string, unknown> | undefined)?.['f:template'] as Record<string, unknown> | undefined)?.['f:metadata'] as Record<string, unknown> | undefined)?.['f:annotations'] as Record<string, unknown> | undefined;
      return annotations !== undefined && `f:${key}` in annotations;
    })
    .map((e) => `${e.manager ?? '?'}/${e.operation ?? '?'}`);
}

function apply(name: string, args: readonly string[], annotations?: Record<string, string>) {
  return kubectl(['apply', '--server-side', `--field-manager=${MANAGER}`, '-o', 'yaml', ...args, '-f', '-'], { input: yamlDocs(deployment(NS, name, annotations)) });
}

describe('GitOps: server-side apply and diff with the mutating webhook', () => {
  before(async () => {
    await ensureNamespace(NS);
  });

  it('a server-side apply dry run of the Git manifest returns the live annotations: no drift to report', async () => {
    const created = apply('web', []);
    assert.equal(created.status, 0, show(created));
    const live = await readObject('apps/v1', 'Deployment', NS, 'web');
    assert.deepEqual(templateAnnotations(live), SIDECAR_ANNOTATIONS, 'the webhook annotated the applied template');
    // What Flux's kustomize-controller does on every reconcile, and Argo CD's server-side diff.
    const predicted = apply('web', ['--dry-run=server']);
    assert.equal(predicted.status, 0, show(predicted));
    assert.deepEqual(templateAnnotations(parse(predicted.stdout) as KObject), templateAnnotations(live));
    // A sync that applies the same Git manifest again changes nothing: no new generation, no roll.
    const again = apply('web', []);
    assert.equal(again.status, 0, show(again));
    const after = await readObject('apps/v1', 'Deployment', NS, 'web');
    assert.deepEqual(templateAnnotations(after), SIDECAR_ANNOTATIONS);
    const generation = (o: KObject | undefined) => (o?.['metadata'] as { generation?: number } | undefined)?.generation;
    assert.equal(generation(after), generation(live));
  });

  it('nobody owns the added annotations in managedFields: no manager name can single them out', async () => {
    const live = await readObject('apps/v1', 'Deployment', NS, 'web');
    assert.ok(live);
    for (const key of Object.keys(SIDECAR_ANNOTATIONS)) {
      // Kubernetes records admission changes under no field manager (the apply's manager owns
      // only what it sent): an Argo CD ignore rule by manager (managedFieldsManagers) cannot match
      // them, and a later apply from Git that omits them does not remove them either.
      assert.deepEqual(ownersOf(live, key), [], key);
    }
  });

  it('annotations declared in Git are kept as written: the webhook adds nothing', async () => {
    const declared = { ...SIDECAR_ANNOTATIONS, 'sidecar.istio.io/rewriteAppHTTPProbers': 'false' };
    const r = apply('declared', [], declared);
    assert.equal(r.status, 0, show(r));
    const live = await readObject('apps/v1', 'Deployment', NS, 'declared');
    assert.deepEqual(templateAnnotations(live), declared);
    const owners = ownersOf(live as KObject, 'sidecar.istio.io/rewriteAppHTTPProbers');
    assert.deepEqual(owners, [`${MANAGER}/Apply`]);
  });
});
