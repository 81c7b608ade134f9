// The mesh scenarios of issue 13 through the real API server, with the server in cluster mode
// (the chart's ServiceAccount token, through a TCP relay to the API server): Istio's bookinfo sample
// (test/fixtures/mesh/bookinfo.yaml, in namespace mesh-bookinfo; reviews' Service port is 80 so
// that messages show both numbers) under a mesh-wide STRICT PeerAuthentication in the root
// namespace, mirroring test/fixtures/rules/mesh-*.yaml:
//   c. the mesh-wide STRICT created over existing DISABLE DestinationRules: admitted, with a
//      warning listing them;
//   a. then a DestinationRule DISABLE for reviews: refused, naming istio-system/default and the
//      ports (the refused `kubectl apply` is written to captured-mesh-denial.txt for the README);
//   r. a policy reload in cluster mode (destinationrule-strict-conflict set to warn, then back; the
//      model is kept: only a rule changed): the same DestinationRule is admitted with the mesh
//      rule's warning, judged against the live mesh, then refused again;
//   b. the details exception (its own PeerAuthentication DISABLE on its port) lets a DISABLE
//      DestinationRule for details pass; the external greeting service (ServiceEntry
//      MESH_EXTERNAL) passes with DISABLE and SIMPLE;
//   e. kube-apiserver restarted under the webhook (test/e2e/tools/restart-apiserver.sh: every
//      watch breaks, etcd keeps the objects; the relay holds the informers' reconnections back
//      until the admissions are made): admissions get the "mesh state unavailable" warning and
//      the single-object rules still refuse, then the informers re-list and (a) is refused again;
//   d. details' own DISABLE policy deleted while its plaintext DestinationRule stands: admitted
//      with a warning naming the calls that break (the chart's validate-delete webhook); then the
//      mesh-wide STRICT deleted: admitted with a warning naming the workload ports it opens to
//      plaintext (PERMISSIVE, Istio's default), and the mesh rules follow (reviews' plaintext is
//      no longer a conflict).
// Everything created here is deleted afterwards (the namespace stays: no namespace controller),
// the policy and the default single-object server are restored.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureNamespace, waitFor } from './lib/cluster.js';
import { allSynced, apiServer, meshReaderKubeconfig, modelHas, objectsOf, Relay, restartApiServer, startClusterMode, stopClusterMode, UNAVAILABLE } from './lib/cluster-mode.js';
import { e2eEnv } from './lib/env.js';
import { deniedMessage, destinationRule, ourWarning, peerAuthentication, repoManifests, serverErrors, yamlDocs, type Manifest } from './lib/manifests.js';
import { basePolicy, metric, waitForWebhooks, writePolicy } from './lib/server.js';
import { kubectl, show, warnings, type Run } from './lib/tools.js';

const NS = 'mesh-bookinfo';
const ROOT = 'istio-system';

/** bookinfo.yaml's Services and Deployments in NS; reviews' Service port 80 -> targetPort 9080. */
function bookinfo(): Manifest[] {
  return repoManifests('test/fixtures/mesh/bookinfo.yaml')
    .filter((m) => m.kind !== 'Namespace')
    .map((m) => {
      const copy = structuredClone(m);
      copy.metadata.namespace = NS;
      if (copy.kind === 'Service' && copy.metadata.name === 'reviews') copy['spec'] = { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 80, targetPort: 9080 }] };
      return copy;
    });
}

const meshWideStrict = peerAuthentication(ROOT, 'default', { mtls: { mode: 'STRICT' } });
/** Reviewed plaintext exceptions (allowlisted for destinationrule-disable) that exist before the STRICT policy. */
const productpagePlaintext = destinationRule(NS, 'productpage', 'productpage');
const ratingsPlaintext = destinationRule(NS, 'ratings', `ratings.${NS}.svc.cluster.local`);
const reviewsMutual = destinationRule(NS, 'reviews', 'reviews', { trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } });
/** Allowlisted for destinationrule-disable (a reviewed exception): only the mesh rule refuses it. */
const reviewsPlaintext = destinationRule(NS, 'reviews-plaintext', 'reviews');
const detailsOwn = peerAuthentication(NS, 'details', { selector: { matchLabels: { app: 'details' } }, portLevelMtls: { '9080': { mode: 'DISABLE' } } });
const detailsPlaintext = destinationRule(NS, 'details', 'details');
const greetingEntry: Manifest = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: { name: 'greeting', namespace: NS },
  spec: { hosts: ['greeting.example.com'], location: 'MESH_EXTERNAL', ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'DNS' },
};
const greetingPlaintext = destinationRule(NS, 'greeting', 'greeting.example.com');
const greetingTls = destinationRule(NS, 'greeting', 'greeting.example.com', { trafficPolicy: { tls: { mode: 'SIMPLE' } } });
/** Not allowlisted: peerauthentication-disable (a single-object rule) refuses it in every state. */
const ratingsDisable = peerAuthentication(NS, 'ratings-plaintext', { selector: { matchLabels: { app: 'ratings' } }, mtls: { mode: 'DISABLE' } });

const apply = (docs: Manifest[], extra: string[] = []): Run => kubectl(['apply', ...extra, '-f', '-'], { input: yamlDocs(...docs) });

/** The webhook's message of the single refusal in `r` (asserts there is exactly one). */
function refusal(r: Run): string {
  assert.notEqual(r.status, 0, show(r));
  const errors = serverErrors(r.stderr);
  assert.equal(errors.length, 1, show(r));
  const message = deniedMessage(errors[0] ?? '');
  assert.ok(message, `not refused by validate.mtls-guard.io:\n${show(r)}`);
  return message;
}

/** The mesh rule's refusal of reviewsPlaintext under the mesh-wide STRICT (scenario a). */
function assertStrictConflict(message: string, r: Run): void {
  assert.match(message, /^DestinationRule mesh-bookinfo\/reviews-plaintext violates 1 mTLS guardrail:\n\[destinationrule-strict-conflict\] spec\.trafficPolicy\.tls\.mode: DISABLE/, show(r));
  assert.doesNotMatch(message, /\[destinationrule-disable\]/, 'the host is allowlisted for the single-object rule');
  assert.match(message, /STRICT by PeerAuthentication istio-system\/default \(spec\.mtls\.mode, mesh-wide\)/, show(r));
  // The Service port and the container port it targets, with the workloads behind it.
  assert.match(message, /reviews:80 -> (container )?port 9080 of Deployment mesh-bookinfo\/reviews-v1, (mesh-bookinfo\/)?reviews-v2, (mesh-bookinfo\/)?reviews-v3/, show(r));
  assert.match(message, /a STRICT port takes only Istio mTLS/, show(r));
}

async function dropAll(): Promise<void> {
  const gone = (m: Manifest): string => `${m.kind.toLowerCase()}.${m.apiVersion.split('/')[0] ?? ''}/${m.metadata.name}`;
  for (const [ns, list] of [
    [ROOT, [meshWideStrict]],
    [NS, [productpagePlaintext, ratingsPlaintext, reviewsMutual, reviewsPlaintext, detailsOwn, detailsPlaintext, greetingEntry, greetingPlaintext, ratingsDisable]],
  ] as const) {
    const r = kubectl(['delete', '--namespace', ns, '--ignore-not-found', '--wait=false', ...list.map(gone)]);
    assert.equal(r.status, 0, show(r));
  }
  const core = kubectl(['delete', '--namespace', NS, '--ignore-not-found', '--wait=false', ...bookinfo().map((m) => `${m.kind.toLowerCase()}/${m.metadata.name}`)]);
  assert.equal(core.status, 0, show(core));
}

describe('mesh scenarios through the real API server (cluster mode): mesh-wide STRICT, exceptions, warnings, policy reload, API server restart', () => {
  let relay: Relay;
  /** The policy this file runs under (base policy plus the fixtures' reviewed exceptions). */
  let policy: { rules: Record<string, { action?: string; allow?: unknown[] }> };

  before(async () => {
    await ensureNamespace(ROOT);
    await ensureNamespace(NS, { 'istio-injection': 'enabled' });
    // The reviewed exceptions of the fixtures, for the single-object rules; the mesh rules judge
    // every one of them anyway.
    policy = basePolicy() as typeof policy;
    const pa = policy.rules['peerauthentication-disable'];
    const dr = policy.rules['destinationrule-disable'];
    assert.ok(pa?.allow && dr?.allow);
    pa.allow.push({ namespace: NS, selector: { app: 'details' }, ports: [9080], reason: 'details terminates its own TLS' });
    dr.allow.push(
      { host: `reviews.${NS}.svc.cluster.local`, reason: 'legacy client, reviewed' },
      { host: `details.${NS}.svc.cluster.local`, reason: 'details terminates its own TLS' },
      { host: `productpage.${NS}.svc.cluster.local`, reason: 'e2e: plaintext while PERMISSIVE' },
      { host: `ratings.${NS}.svc.cluster.local`, reason: 'e2e: plaintext while PERMISSIVE' },
      { host: 'greeting.example.com', namespace: NS, reason: 'external greeting service speaks plain HTTP' },
    );
    await writePolicy(policy);
    const { url } = apiServer();
    relay = new Relay({ host: url.hostname, port: Number(url.port || 443) });
    const port = await relay.listen();
    await startClusterMode(meshReaderKubeconfig('mesh-scenarios.kubeconfig', `https://${url.hostname}:${port}`));

    const [services, deployments, rules] = await Promise.all([objectsOf('Service'), objectsOf('Deployment'), objectsOf('DestinationRule')]);
    const setup = apply([...bookinfo(), productpagePlaintext, ratingsPlaintext, reviewsMutual]);
    assert.equal(setup.status, 0, show(setup));
    assert.deepEqual(warnings(setup), [], `no STRICT yet: plaintext to PERMISSIVE ports is no conflict\n${show(setup)}`);
    await modelHas('Service', services, 4);
    await modelHas('Deployment', deployments, 6);
    await modelHas('DestinationRule', rules, 3);
  });

  after(async () => {
    relay.refuseNew(false);
    await dropAll();
    await stopClusterMode();
    await relay.close();
  });

  it('c. a mesh-wide STRICT PeerAuthentication over existing DISABLE DestinationRules is admitted with a warning listing them', async () => {
    const policies = await objectsOf('PeerAuthentication');
    const r = apply([meshWideStrict]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /peerauthentication\.security\.istio\.io\/default created/);
    const ours = warnings(r).filter((w) => w.includes('[peerauthentication-strict-conflict]'));
    // One warning per DestinationRule that starts failing (other files' leftovers may add more),
    // naming the rule and the call it breaks before the clients (kubectl shows 256 characters).
    for (const rule of ['productpage', 'ratings']) {
      const lines = ours.filter((w) => w.includes(`DestinationRule ${NS}/${rule} (spec.trafficPolicy.tls.mode: DISABLE) makes calls to ${rule}:`));
      assert.equal(lines.length, 1, `one warning for DestinationRule ${NS}/${rule}:\n${show(r)}`);
      const rest = ourWarning(lines[0], 'peerauthentication-strict-conflict', 'PeerAuthentication istio-system/default');
      assert.match(rest, /^: spec\.mtls\.mode: STRICT allowed with a warning; /, show(r));
    }
    assert.ok(!ours.some((w) => w.includes(`DestinationRule ${NS}/reviews `)), `reviews' rule says ISTIO_MUTUAL: not listed\n${show(r)}`);
    assert.ok(!warnings(r).includes(UNAVAILABLE), show(r));
    await modelHas('PeerAuthentication', policies);

    // reviews' ISTIO_MUTUAL rule goes: for a host, Istio takes the traffic policy of the oldest
    // DestinationRule, so while it stands a newer DISABLE rule for reviews changes nothing (and
    // is rightly no conflict). (a) needs it gone.
    const rules = await objectsOf('DestinationRule');
    const gone = kubectl(['delete', 'destinationrule', 'reviews', '--namespace', NS]);
    assert.equal(gone.status, 0, show(gone));
    await modelHas('DestinationRule', rules, -1);
  });

  it('a. then a DestinationRule DISABLE for reviews is refused, naming istio-system/default and the Service and container ports', () => {
    const r = apply([reviewsPlaintext]);
    // The README shows this exact output.
    writeFileSync(
      join(e2eEnv().root, 'test', 'e2e', 'captured-mesh-denial.txt'),
      `$ kubectl apply -f - <<'EOF'\n${yamlDocs(reviewsPlaintext)}EOF\n${r.stdout}${r.stderr}`,
    );
    assertStrictConflict(refusal(r), r);
    assert.ok(!warnings(r).includes(UNAVAILABLE), show(r));
    const stored = kubectl(['get', 'destinationrule', 'reviews-plaintext', '--namespace', NS, '--ignore-not-found', '-o', 'name']);
    assert.equal(stored.stdout.trim(), '', 'nothing stored');
  });

  it('r. a policy reload in cluster mode: the mesh rules follow the reloaded policy, the DestinationRule of (a) admitted with the mesh rule\'s warning once it says warn, refused again once it says deny', async (t) => {
    const dryRun = (): Run => apply([reviewsPlaintext], ['--dry-run=server']);
    const reloads = await metric('mtls_guard_policy_reloads_total', { result: 'success' });
    const relaxed = structuredClone(policy);
    relaxed.rules['destinationrule-strict-conflict'] = { action: 'warn' };
    await writePolicy(relaxed);
    // Only a rule changed, so the model is kept; wait for the reload to reach the server's answers
    // and check the answer is the mesh rule's warning, not a single-object verdict.
    const started = Date.now();
    let r = dryRun();
    await waitFor('the mesh rule to judge the DestinationRule under the reloaded policy', async () => {
      r = dryRun();
      return r.status === 0 && !warnings(r).includes(UNAVAILABLE);
    }, 15_000, 100);
    t.diagnostic(`the reloaded policy's mesh verdict came ${Date.now() - started} ms after the reload`);
    assert.match(r.stdout, /destinationrule\.networking\.istio\.io\/reviews-plaintext created \(server dry run\)/, show(r));
    const ours = warnings(r).filter((w) => w.includes('[destinationrule-strict-conflict]'));
    assert.equal(ours.length, 1, show(r));
    const rest = ourWarning(ours[0], 'destinationrule-strict-conflict', `DestinationRule ${NS}/reviews-plaintext`);
    // Scope first (the mesh's clients), so the 256-character cut takes the fix, not the scope.
    assert.match(rest, /^: spec\.trafficPolicy\.tls\.mode: DISABLE allowed with a warning; clients /, show(r));

    await writePolicy(policy);
    await waitFor('the restored policy to refuse the DestinationRule again', async () => {
      r = dryRun();
      return r.status !== 0 && !warnings(r).includes(UNAVAILABLE);
    }, 15_000, 100);
    assertStrictConflict(refusal(r), r);
    assert.equal(await metric('mtls_guard_policy_reloads_total', { result: 'success' }), reloads + 2, 'two reloads, both accepted');
  });

  it('b. the details exception: refused before its own PeerAuthentication DISABLE on the port, admitted after', async () => {
    const before = refusal(apply([detailsPlaintext], ['--dry-run=server']));
    assert.match(before, /\[destinationrule-strict-conflict\].*\n?.*STRICT by PeerAuthentication istio-system\/default/);
    assert.doesNotMatch(before, /\[destinationrule-disable\]/, 'details is allowlisted for the single-object rule');

    const policies = await objectsOf('PeerAuthentication');
    const own = apply([detailsOwn]);
    assert.equal(own.status, 0, show(own));
    await modelHas('PeerAuthentication', policies);
    const r = apply([detailsPlaintext]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /destinationrule\.networking\.istio\.io\/details created/);
    assert.deepEqual(warnings(r), [], show(r));
  });

  it('b. the external greeting service (ServiceEntry MESH_EXTERNAL): DestinationRule DISABLE, then SIMPLE, admitted', async () => {
    const entries = await objectsOf('ServiceEntry');
    const entry = apply([greetingEntry]);
    assert.equal(entry.status, 0, show(entry));
    await modelHas('ServiceEntry', entries);
    for (const [rule, verb] of [
      [greetingPlaintext, 'created'],
      [greetingTls, 'configured'],
    ] as const) {
      const r = apply([rule]);
      assert.equal(r.status, 0, show(r));
      assert.match(r.stdout, new RegExp(`destinationrule\\.networking\\.istio\\.io/greeting ${verb}`), show(r));
      assert.deepEqual(warnings(r), [], show(r));
    }
  });

  it('e. kube-apiserver restarted under the webhook: single-object rules with the warning while the watches are down, then the mesh rules again', async (t) => {
    // The restart breaks every watch. The informers' reconnections go through the relay, which
    // refuses new connections until the admissions below are made: on its own the window is a
    // race (kube-apiserver serves lists seconds before /readyz, so the informers often re-list
    // before the first admission can get through), and a test must not depend on winning it.
    const failures = await metric('mtls_guard_informer_errors_total');
    relay.refuseNew(true);
    const started = Date.now();
    try {
      await restartApiServer(2);
    } catch (err) {
      relay.refuseNew(false);
      throw err;
    }
    t.diagnostic(`kube-apiserver back after ${Date.now() - started} ms`);
    // The watches broke with the restart (not a relay reset: open connections were left alone).
    assert.ok(!(await allSynced()), 'the informers report the broken watches');
    assert.ok((await metric('mtls_guard_informer_errors_total')) > failures, 'the informers counted the failed watches');

    // Judged alone: the single-object rule still refuses the PeerAuthentication DISABLE, and says
    // the mesh was not consulted.
    const refused = apply([ratingsDisable], ['--dry-run=server']);
    assert.ok(warnings(refused).includes(UNAVAILABLE), show(refused));
    assert.match(refusal(refused), /^PeerAuthentication mesh-bookinfo\/ratings-plaintext violates 1 mTLS guardrail:\n\[peerauthentication-disable\] spec\.mtls\.mode: DISABLE/, show(refused));
    // reviews' reviewed plaintext rule, judged alone, passes: the warning is what tells.
    const alone = apply([reviewsPlaintext], ['--dry-run=server']);
    assert.equal(alone.status, 0, `judged alone, the allowlisted host passes:\n${show(alone)}`);
    assert.ok(warnings(alone).includes(UNAVAILABLE), show(alone));

    // Recovery: the informers re-list from the restarted API server; (a)'s refusal comes back.
    relay.refuseNew(false);
    const waiting = Date.now();
    await waitFor('every informer to re-list after the restart', allSynced, 60_000, 250);
    t.diagnostic(`informers synced again ${Date.now() - waiting} ms after the relay let them through`);
    const again = apply([reviewsPlaintext], ['--dry-run=server']);
    assertStrictConflict(refusal(again), again);
    assert.ok(!warnings(again).includes(UNAVAILABLE), show(again));
    // The API server calls both webhooks as before the restart.
    await waitForWebhooks();
  });

  it('d. deleting details\' own DISABLE policy warns of the calls it breaks; deleting the mesh-wide STRICT warns of the ports it opens to plaintext, and the mesh rules follow', async () => {
    // The chart's validate-delete webhook (cluster mode, failurePolicy Ignore) sends the DELETE.
    const before = await objectsOf('PeerAuthentication');
    const own = kubectl(['delete', 'peerauthentication', 'details', '--namespace', NS]);
    assert.equal(own.status, 0, show(own));
    const [line, ...more] = warnings(own).filter((w) => w.includes('[peerauthentication-strict-conflict]'));
    assert.deepEqual(more, [], show(own));
    const rest = ourWarning(line, 'peerauthentication-strict-conflict', 'deleting PeerAuthentication mesh-bookinfo/details');
    assert.match(rest, /^ breaks calls to details:9080 -> (container )?port 9080 of Deployment mesh-bookinfo\/details-v1: plaintext to a STRICT port/, show(own));
    await modelHas('PeerAuthentication', before, -1);

    const policies = await objectsOf('PeerAuthentication');
    const r = kubectl(['delete', 'peerauthentication', 'default', '--namespace', ROOT]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /peerauthentication\.security\.istio\.io "default" deleted/);
    // It breaks no call, but every sidecar port it kept STRICT now takes plaintext: said so.
    const [opens, ...others] = warnings(r).filter((w) => w.includes('[peerauthentication-strict-conflict]'));
    assert.deepEqual(others, [], show(r));
    const text = ourWarning(opens, 'peerauthentication-strict-conflict', `deleting PeerAuthentication ${ROOT}/default`);
    assert.match(text, /^ opens \d+ workload ports? to plaintext \(now PERMISSIVE, Istio's default\): \S+:\d+/, show(r));
    await modelHas('PeerAuthentication', policies, -1);
    // PERMISSIVE again: plaintext is accepted, so reviews' reviewed plaintext rule is no conflict.
    const after = apply([reviewsPlaintext], ['--dry-run=server']);
    assert.equal(after.status, 0, show(after));
    assert.match(after.stdout, /destinationrule\.networking\.istio\.io\/reviews-plaintext created \(server dry run\)/, show(after));
    assert.deepEqual(warnings(after), [], show(after));
  });
});
