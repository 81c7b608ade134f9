// Scenarios 1 and 2: PeerAuthentication and DestinationRule through `kubectl apply`, judged by
// validate.mtls-guard.io under examples/policy.yaml; stored objects read back with client-node.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ensureNamespace, readObject, templateAnnotations } from './lib/cluster.js';
import { e2eEnv } from './lib/env.js';
import { ALLOWED_FILE, deniedMessage, destinationRule, peerAuthentication, repoManifests, serverErrors, VIOLATIONS_FILE, yamlDocs, type Manifest } from './lib/manifests.js';
import { kubectl, show, warnings } from './lib/tools.js';

const RATINGS_SPEC = { selector: { matchLabels: { app: 'ratings' } }, mtls: { mode: 'DISABLE' } };

async function stored(m: Manifest): Promise<boolean> {
  return (await readObject(m.apiVersion, m.kind, m.metadata.namespace ?? 'default', m.metadata.name)) !== undefined;
}

/** Applies manifests from stdin, expecting every one to be refused by our webhook. */
function applyDenied(...docs: Manifest[]): string[] {
  const r = kubectl(['apply', '-f', '-'], { input: yamlDocs(...docs) });
  assert.equal(r.status, 1, show(r));
  assert.equal(r.stdout, '', show(r));
  const errors = serverErrors(r.stderr);
  assert.equal(errors.length, docs.length, show(r));
  return errors.map((e) => {
    const message = deniedMessage(e);
    assert.ok(message, `not refused by validate.mtls-guard.io:\n${e}`);
    return message;
  });
}

describe('PeerAuthentication and DestinationRule through kubectl apply', () => {
  before(async () => {
    // client-node for setup, as an operator's tooling would.
    for (const ns of ['bookinfo', 'istio-system', 'greetings-client']) await ensureNamespace(ns);
  });

  it('scenario 1: refuses the ratings PeerAuthentication DISABLE with rule id, object, why and fix', async () => {
    const file = VIOLATIONS_FILE;
    const r = kubectl(['apply', '-f', file]);
    // The README shows this exact output.
    writeFileSync(join(e2eEnv().root, 'test', 'e2e', 'captured-denial.txt'), `$ kubectl apply -f ${file}\n${r.stdout}${r.stderr}`);

    assert.equal(r.status, 1, show(r));
    assert.equal(r.stdout, '', 'nothing in the file may be created');
    const errors = serverErrors(r.stderr);
    assert.equal(errors.length, 3, show(r));
    const [ratings, productpage, meshWide] = errors as [string, string, string];

    assert.ok(
      ratings.startsWith(
        `Error from server (Forbidden): error when creating "${file}": admission webhook "validate.mtls-guard.io" denied the request: ` +
          'PeerAuthentication bookinfo/ratings-mtls-disable violates 1 mTLS guardrail:\n' +
          '[peerauthentication-disable] spec.mtls.mode: DISABLE (workload scope: pods with app=ratings in bookinfo)\n' +
          '  why: these pods would accept plaintext',
      ),
      ratings,
    );
    assert.match(ratings, /\n {2}allowed here: bookinfo selector app=details ports 9080 \("details terminates its own TLS"\);\n\s+istio-system\/disable-mtls-jaeger-collector \("OSSM-managed"\)/);
    assert.match(ratings, /\n {2}fix: use STRICT .*rules\.peerauthentication-disable\.allow/);

    assert.match(productpage, /DestinationRule bookinfo\/productpage violates 2 mTLS guardrails:/);
    assert.match(productpage, /\[destinationrule-disable\] spec\.trafficPolicy\.tls\.mode: DISABLE \(traffic to productpage\.bookinfo\.svc\.cluster\.local/);
    assert.match(productpage, /\[destinationrule-insecure-tls\] spec\.subsets\[0\]\.trafficPolicy\.portLevelSettings\[0\]\.tls\.insecureSkipVerify: true/);
    assert.match(meshWide, /PeerAuthentication istio-system\/default violates 1 mTLS guardrail:\n\[peerauthentication-disable\] spec\.mtls\.mode: DISABLE \(mesh-wide/);

    for (const m of repoManifests(file)) assert.equal(await stored(m), false, `${m.kind} ${m.metadata.name} must not be stored`);
  });

  it('scenarios 1 and 2: creates the allowlisted details PeerAuthentication and the external greeting DestinationRule', async () => {
    const file = ALLOWED_FILE;
    const r = kubectl(['apply', '-f', file]);
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'peerauthentication.security.istio.io/details-mtls-disable created',
      'destinationrule.networking.istio.io/greeting-external created',
      'deployment.apps/ratings-v1 created',
    ]);
    assert.deepEqual(warnings(r), [], 'allowed by the allowlist: no warning either');

    const pa = await readObject('security.istio.io/v1', 'PeerAuthentication', 'bookinfo', 'details-mtls-disable');
    assert.deepEqual((pa?.['spec'] as { portLevelMtls?: unknown } | undefined)?.portLevelMtls, { '9080': { mode: 'DISABLE' } });
    const dr = await readObject('networking.istio.io/v1', 'DestinationRule', 'greetings-client', 'greeting-external');
    assert.equal((dr?.['spec'] as { host?: string } | undefined)?.host, 'greeting.example.com');
    // The Deployment in the same file got the sidecar annotations, its own prefix list kept first.
    const ratings = await readObject('apps/v1', 'Deployment', 'bookinfo', 'ratings-v1');
    assert.deepEqual(templateAnnotations(ratings), {
      'sidecar.istio.io/statsInclusionPrefixes': 'cluster_manager,tls_inspector,listener,cluster',
      'sidecar.istio.io/rewriteAppHTTPProbers': 'true',
    });
  });

  it('scenario 2: refuses a productpage DestinationRule DISABLE by short host and by FQDN', async () => {
    const short = destinationRule('bookinfo', 'productpage-short', 'productpage');
    const fqdn = destinationRule('bookinfo', 'productpage-fqdn', 'productpage.bookinfo.svc.cluster.local');
    const [shortMessage, fqdnMessage] = applyDenied(short, fqdn) as [string, string];
    assert.match(shortMessage, /^DestinationRule bookinfo\/productpage-short violates 1 mTLS guardrail:\n\[destinationrule-disable\] spec\.trafficPolicy\.tls\.mode: DISABLE \(traffic to productpage\.bookinfo\.svc\.cluster\.local \(written "productpage"\)/);
    assert.match(fqdnMessage, /^DestinationRule bookinfo\/productpage-fqdn violates 1 mTLS guardrail:\n\[destinationrule-disable\] spec\.trafficPolicy\.tls\.mode: DISABLE \(traffic to productpage\.bookinfo\.svc\.cluster\.local, all ports\)/);
    for (const m of [shortMessage, fqdnMessage]) assert.match(m, /allowed here: host kubernetes\.default\.svc\.cluster\.local \("OSSM-managed"\)/);
    assert.equal(await stored(short), false);
    assert.equal(await stored(fqdn), false);
  });

  it('scenario 2: judges the same PeerAuthentication through security.istio.io/v1 and v1beta1', async () => {
    const v1 = peerAuthentication('bookinfo', 'ratings-v1api', RATINGS_SPEC, 'security.istio.io/v1');
    const v1beta1 = peerAuthentication('bookinfo', 'ratings-v1beta1api', RATINGS_SPEC, 'security.istio.io/v1beta1');
    const messages = applyDenied(v1, v1beta1);
    for (const [m, name] of [
      [messages[0], 'ratings-v1api'],
      [messages[1], 'ratings-v1beta1api'],
    ] as const) {
      assert.match(m ?? '', new RegExp(`^PeerAuthentication bookinfo/${name} violates 1 mTLS guardrail:\\n\\[peerauthentication-disable\\] spec\\.mtls\\.mode: DISABLE`));
    }
    // Same verdict word for word, apart from the name.
    assert.equal(messages[0]?.replace('ratings-v1api', 'X'), messages[1]?.replace('ratings-v1beta1api', 'X'));
    assert.equal(await stored(v1), false);
    assert.equal(await stored(v1beta1), false);
  });

  it('scenario 2: judges DestinationRule through networking.istio.io v1alpha3 and v1beta1 too', async () => {
    const old = destinationRule('bookinfo', 'reviews-v1alpha3', 'reviews', {}, 'networking.istio.io/v1alpha3');
    const beta = destinationRule('bookinfo', 'reviews-v1beta1', 'reviews.bookinfo', {}, 'networking.istio.io/v1beta1');
    const [shortHost, dottedHost] = applyDenied(old, beta);
    assert.match(shortHost ?? '', /\[destinationrule-disable\] spec\.trafficPolicy\.tls\.mode: DISABLE \(traffic to reviews\.bookinfo\.svc\.cluster\.local \(written "reviews"\)/);
    // A dotted name is taken as written, as Istio's ResolveShortnameToFQDN takes it, and the
    // message says what to write for the Service (the rule is in bookinfo itself).
    assert.match(dottedHost ?? '', /\[destinationrule-disable\] spec\.trafficPolicy\.tls\.mode: DISABLE \(traffic to reviews\.bookinfo \(taken as written: Istio expands only names without a dot; for that Service write reviews\.bookinfo\.svc\.cluster\.local\)/);
    assert.equal(await stored(old), false);
  });

  it("judges a tls block without mode as Istio does (DISABLE), after the API server's own schema and pruning", async () => {
    const sniOnly = destinationRule('bookinfo', 'catalog-sni', 'catalog', { trafficPolicy: { tls: { sni: 'catalog.bookinfo.svc.cluster.local' } } });
    const modeNull = destinationRule('bookinfo', 'catalog-null', 'catalog', { trafficPolicy: { tls: { mode: null } } });
    for (const m of applyDenied(sniOnly, modeNull)) {
      assert.match(m, /\[destinationrule-disable\] spec\.trafficPolicy\.tls\.mode: DISABLE \(no mode given: Istio's default for a tls block\)/);
    }
    assert.equal(await stored(sniOnly), false);
  });

  it('allows a STRICT PeerAuthentication without a word', async () => {
    const strict = peerAuthentication('bookinfo', 'default', { mtls: { mode: 'STRICT' } });
    const r = kubectl(['apply', '-f', '-'], { input: yamlDocs(strict) });
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout.trim(), 'peerauthentication.security.istio.io/default created');
    assert.deepEqual(warnings(r), []);
    assert.equal(await stored(strict), true);
  });
});
