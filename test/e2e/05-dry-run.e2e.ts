// Scenario 5: `kubectl apply --dry-run=server` runs the webhooks like a real request: the same
// denial, the same mutation, and nothing is stored.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { ensureNamespace, readObject, templateAnnotations, type KObject } from './lib/cluster.js';
import { deniedMessage, deployment, repoManifests, serverErrors, SIDECAR_ANNOTATIONS, VIOLATIONS_FILE, yamlDocs } from './lib/manifests.js';
import { kubectl, show } from './lib/tools.js';

describe('scenario 5: server-side dry run', () => {
  before(async () => {
    await ensureNamespace('bookinfo');
    await ensureNamespace('e2e-dryrun');
  });

  it('is denied with exactly the message of a real apply, and nothing is stored', async () => {
    const ratings = repoManifests(VIOLATIONS_FILE)[0];
    assert.ok(ratings);
    const input = yamlDocs(ratings);
    const real = kubectl(['apply', '-f', '-'], { input });
    const dry = kubectl(['apply', '--dry-run=server', '-f', '-'], { input });
    assert.equal(real.status, 1, show(real));
    assert.equal(dry.status, 1, show(dry));
    const realMessage = deniedMessage(serverErrors(real.stderr)[0] ?? '');
    const dryMessage = deniedMessage(serverErrors(dry.stderr)[0] ?? '');
    assert.ok(dryMessage?.startsWith('PeerAuthentication bookinfo/ratings-mtls-disable violates 1 mTLS guardrail:'), show(dry));
    assert.equal(dryMessage, realMessage);
    assert.equal(await readObject('security.istio.io/v1', 'PeerAuthentication', 'bookinfo', 'ratings-mtls-disable'), undefined);
  });

  it('returns the mutated Deployment without storing it', async () => {
    const r = kubectl(['apply', '--dry-run=server', '-o', 'yaml', '-f', '-'], { input: yamlDocs(deployment('e2e-dryrun', 'preview')) });
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(templateAnnotations(parse(r.stdout) as KObject), SIDECAR_ANNOTATIONS);
    assert.equal(await readObject('apps/v1', 'Deployment', 'e2e-dryrun', 'preview'), undefined);
  });
});
