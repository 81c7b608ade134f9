// Scenario 7: the webhook process is down. With failurePolicy Fail (the chart's default in
// enforce mode) the API server refuses judged requests with its own "failed calling webhook"
// error; after `helm upgrade --set webhook.failurePolicy=Ignore` they pass unjudged. The server
// and the chart's values are restored afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { admission, ensureNamespace, objects, readObject, templateAnnotations, waitFor } from './lib/cluster.js';
import { e2eEnv } from './lib/env.js';
import { deployment, peerAuthentication, yamlDocs } from './lib/manifests.js';
import { startServer, stopServer, waitForWebhooks } from './lib/server.js';
import { helm, kubectl, show } from './lib/tools.js';

const NS = 'e2e-failure';

function upgrade(...sets: string[]): void {
  const env = e2eEnv();
  const r = helm(['upgrade', env.release, env.chart, '--namespace', env.releaseNamespace, '-f', env.helmValues, '--timeout', '60s', ...sets.flatMap((s) => ['--set', s])]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /has been upgraded/);
}

async function failurePolicies(): Promise<string[]> {
  const v = await admission().readValidatingWebhookConfiguration({ name: 'validate.mtls-guard.io' });
  const m = await admission().readMutatingWebhookConfiguration({ name: 'mutate.mtls-guard.io' });
  return [v.webhooks?.[0]?.failurePolicy ?? '', m.webhooks?.[0]?.failurePolicy ?? ''];
}

describe('scenario 7: webhook process stopped', () => {
  let upgraded = false;
  before(async () => {
    await ensureNamespace(NS);
    assert.deepEqual(await failurePolicies(), ['Fail', 'Fail']);
    stopServer();
  });
  after(async () => {
    try {
      if (upgraded) upgrade();
      assert.deepEqual(await failurePolicies(), ['Fail', 'Fail']);
    } finally {
      // The restarted server loads the certificate 07-cert-rotation left on disk, so this also proves the
      // API server accepts it on a fresh handshake.
      startServer();
      await waitForWebhooks();
    }
  });

  it('failurePolicy Fail: creates are refused with the API server\'s "failed calling webhook" error', async () => {
    const port = e2eEnv().webhookPort;
    const pa = kubectl(['apply', '-f', '-'], { input: yamlDocs(peerAuthentication(NS, 'strict', { mtls: { mode: 'STRICT' } })) });
    assert.equal(pa.status, 1, show(pa));
    assert.match(pa.stderr, new RegExp(`^Error from server \\(InternalError\\): error when creating "STDIN": Internal error occurred: failed calling webhook "validate\\.mtls-guard\\.io": failed to call webhook: Post "https://127\\.0\\.0\\.1:${port}/validate\\?timeout=5s": dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused`), show(pa));
    const dep = kubectl(['apply', '-f', '-'], { input: yamlDocs(deployment(NS, 'api')) });
    assert.equal(dep.status, 1, show(dep));
    assert.match(dep.stderr, /failed calling webhook "mutate\.mtls-guard\.io": failed to call webhook: Post "https:\/\/127\.0\.0\.1:\d+\/mutate\?timeout=5s"/, show(dep));
    assert.equal(await readObject('security.istio.io/v1', 'PeerAuthentication', NS, 'strict'), undefined);
    assert.equal(await readObject('apps/v1', 'Deployment', NS, 'api'), undefined);
  });

  it('failurePolicy Ignore (helm upgrade --set webhook.failurePolicy=Ignore): creates pass, unjudged and unchanged', async () => {
    upgrade('webhook.failurePolicy=Ignore');
    upgraded = true;
    assert.deepEqual(await failurePolicies(), ['Ignore', 'Ignore']);
    // The API server picks up webhook configuration changes within about a second.
    await waitFor('the API server to use failurePolicy Ignore', async () => {
      await objects().create(peerAuthentication(NS, 'probe', { mtls: { mode: 'STRICT' } }) as never, undefined, 'All');
      return true;
    });
    const r = kubectl(['apply', '-f', '-'], { input: yamlDocs(peerAuthentication(NS, 'disable-unjudged', { mtls: { mode: 'DISABLE' } }), deployment(NS, 'api')) });
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(r.stdout.trim().split('\n'), ['peerauthentication.security.istio.io/disable-unjudged created', 'deployment.apps/api created']);
    assert.ok(await readObject('security.istio.io/v1', 'PeerAuthentication', NS, 'disable-unjudged'), 'Ignore lets even a violation through: the reason Fail is the default');
    assert.equal(templateAnnotations(await readObject('apps/v1', 'Deployment', NS, 'api')), undefined);
  });
});
