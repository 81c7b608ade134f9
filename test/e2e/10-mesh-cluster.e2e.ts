// Cluster mode through the real API server: the server is restarted with a kubeconfig of the
// chart's own ServiceAccount (a TokenRequest token, so the chart's read-only ClusterRole is what
// it runs with), pointed at a TCP relay to the API server that the test can cut. With a
// namespace-wide STRICT PeerAuthentication in the model, a DestinationRule DISABLE that the
// single-object rule allows (allowlisted host) is refused, naming the PeerAuthentication and the
// port; the `details` exception (its own PeerAuthentication DISABLE on the port) passes. With the
// watches cut, the mesh rules are skipped with the warning and the single-object rules still
// refuse; once the relay is back the informers recover and the mesh rule refuses again. The
// default server (single-object mode) is restored afterwards. (The namespace stays: this API
// server has no namespace controller to finish deleting one.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureNamespace, waitFor } from './lib/cluster.js';
import { allSynced, apiServer, meshReaderKubeconfig, modelHas, objectsOf, Relay, startClusterMode, stopClusterMode, UNAVAILABLE } from './lib/cluster-mode.js';
import { deniedMessage, deployment, destinationRule, peerAuthentication, serverErrors, yamlDocs, type Manifest } from './lib/manifests.js';
import { basePolicy, metric, writePolicy } from './lib/server.js';
import { kubectl, show, warnings } from './lib/tools.js';

const NS = 'e2e-mesh';

function service(name: string): Manifest {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] } };
}

function workload(name: string): Manifest {
  const d = deployment(NS, `${name}-v1`);
  const spec = d['spec'] as { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { containers: Record<string, unknown>[] } } };
  spec.selector.matchLabels = { app: name };
  spec.template.metadata.labels = { app: name };
  spec.template.spec.containers = [{ name, image: `registry.example/${name}:1.0`, ports: [{ containerPort: 9080 }] }];
  return d;
}

function apply(docs: Manifest[], extra: string[] = []): ReturnType<typeof kubectl> {
  return kubectl(['apply', ...extra, '-f', '-'], { input: yamlDocs(...docs) });
}

const reviewsRule = destinationRule(NS, 'reviews-plaintext', 'reviews');
const ratingsRule = destinationRule(NS, 'ratings-plaintext', 'ratings');

describe('cluster mode: mesh-aware admission through the real API server', () => {
  let relay: Relay;

  before(async () => {
    // The chart's ServiceAccount and its read-only ClusterRole (cluster.enabled is the default),
    // through a relay the test can cut.
    const { url } = apiServer();
    relay = new Relay({ host: url.hostname, port: Number(url.port || 443) });
    const port = await relay.listen();
    const kubeconfig = meshReaderKubeconfig('mesh-reader.kubeconfig', `https://${url.hostname}:${port}`);

    // The single-object rule allows DISABLE for both hosts and the details port: what refuses
    // below is the mesh rule alone.
    const policy = basePolicy() as { rules: Record<string, { action?: string; allow?: unknown[] }> };
    const pa = policy.rules['peerauthentication-disable'];
    const dr = policy.rules['destinationrule-disable'];
    assert.ok(pa?.allow && dr?.allow);
    pa.allow.push({ namespace: NS, selector: { app: 'details' }, ports: [9080], reason: 'details terminates its own TLS' });
    dr.allow.push({ host: `reviews.${NS}.svc.cluster.local`, reason: 'e2e: only the mesh rule judges it' }, { host: `details.${NS}.svc.cluster.local`, reason: 'details terminates its own TLS' });
    await writePolicy(policy);
    await startClusterMode(kubeconfig);
  });

  after(async () => {
    await stopClusterMode();
    await relay.close();
  });

  it('a DestinationRule DISABLE towards pods a namespace-wide STRICT policy covers is refused, naming it and the port', async () => {
    await ensureNamespace(NS, { 'istio-injection': 'enabled' });
    const [services, deployments, policies] = await Promise.all([objectsOf('Service'), objectsOf('Deployment'), objectsOf('PeerAuthentication')]);
    const setup = apply([service('reviews'), workload('reviews'), service('details'), workload('details'), peerAuthentication(NS, 'default', { mtls: { mode: 'STRICT' } })]);
    assert.equal(setup.status, 0, show(setup));
    await modelHas('Service', services, 2);
    await modelHas('Deployment', deployments, 2);
    await modelHas('PeerAuthentication', policies);

    const r = apply([reviewsRule]);
    assert.notEqual(r.status, 0, show(r));
    const [error] = serverErrors(r.stderr);
    const message = deniedMessage(error ?? '') ?? '';
    assert.match(message, /\[destinationrule-strict-conflict\]/, show(r));
    assert.match(message, /PeerAuthentication e2e-mesh\/default/, show(r));
    assert.match(message, /9080/, show(r));
    assert.doesNotMatch(message, /\[destinationrule-disable\]/, 'the host is allowlisted for the single-object rule');
    assert.ok(!warnings(r).includes(UNAVAILABLE));
    const stored = kubectl(['get', 'destinationrule', 'reviews-plaintext', '--namespace', NS, '--ignore-not-found', '-o', 'name']);
    assert.equal(stored.stdout.trim(), '', 'nothing stored');
  });

  it('the details exception: its own PeerAuthentication DISABLE on the port lets the plaintext DestinationRule pass', async () => {
    const policies = await objectsOf('PeerAuthentication');
    const own = apply([peerAuthentication(NS, 'details-plaintext', { selector: { matchLabels: { app: 'details' } }, portLevelMtls: { '9080': { mode: 'DISABLE' } } })]);
    assert.equal(own.status, 0, show(own));
    await modelHas('PeerAuthentication', policies);
    const r = apply([destinationRule(NS, 'details-plaintext', 'details')]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /destinationrule\.networking\.istio\.io\/details-plaintext created/);
  });

  it('watches cut: mesh rules skipped with the warning, single-object rules still refuse; then recovered', async () => {
    const judgedAlone = await metric('mtls_guard_mesh_state_unavailable_total');
    relay.setCut(true);
    await waitFor('an informer to report failing', async () => !(await allSynced()), 30_000, 200);

    const alone = apply([reviewsRule], ['--dry-run=server']);
    assert.equal(alone.status, 0, `judged alone, the allowlisted host passes:\n${show(alone)}`);
    assert.ok(warnings(alone).includes(UNAVAILABLE), show(alone));
    const refused = apply([ratingsRule], ['--dry-run=server']);
    assert.notEqual(refused.status, 0, show(refused));
    assert.match(deniedMessage(serverErrors(refused.stderr)[0] ?? '') ?? '', /\[destinationrule-disable\]/, show(refused));
    assert.ok(warnings(refused).includes(UNAVAILABLE), show(refused));
    assert.ok((await metric('mtls_guard_mesh_state_unavailable_total')) >= judgedAlone + 2);

    relay.setCut(false);
    await waitFor('every informer to recover after its back-off', allSynced, 90_000, 500);
    const again = apply([reviewsRule], ['--dry-run=server']);
    assert.notEqual(again.status, 0, show(again));
    assert.match(deniedMessage(serverErrors(again.stderr)[0] ?? '') ?? '', /\[destinationrule-strict-conflict\]/, show(again));
    assert.ok(!warnings(again).includes(UNAVAILABLE), show(again));
  });
});
