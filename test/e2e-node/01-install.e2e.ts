// Node suite, scenario 1: `helm install` of the chart with its default values except the image
// (built from ./Dockerfile, pullPolicy Never): the pods become Ready through the chart's own
// probes, the API server calls the webhook through the Service (endpoint IPs on the node's
// bridge), and the behaviours of the local-process suite's scenarios 1-5 (test/e2e/02..05) hold
// against the pods: denial messages, mutation, audit mode with the API server's audit
// annotations, server-side dry run.
//
// Default values mean cluster mode is on, and it runs for real: each pod loads its in-cluster
// config (client-node's loadFromDefault: KUBERNETES_SERVICE_HOST, the projected ServiceAccount
// token and kube-root-ca.crt), reaches the API server at the `kubernetes` Service (10.0.0.1:443,
// routed by kube-proxy to the node IP) and lists and watches the mesh with the chart's read-only
// RBAC. Checked: every kind synced on each pod (/readyz), the API server's audit log naming the
// release's ServiceAccount from each pod IP, a refusal only the mesh can give
// (destinationrule-strict-conflict for a DestinationRule SIMPLE to a Service under STRICT), and
// no "mesh state unavailable" warning on any answer. The fallback when the API server cannot be
// reached (that warning, the single-object rules still judging) is test/e2e/13's restart step.
//
// Not repeated here (they need the local process): the policy-file reload of test/e2e/04 (a
// ConfigMap edit reaches the pod through the kubelet: 04-policy-configmap.e2e.ts; here audit
// mode comes with `helm upgrade`), and test/e2e/02's README capture.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { cronJob, deniedMessage, deployment, deploymentConfig, destinationRule, ourWarning, peerAuthentication, serverErrors, SIDECAR_ANNOTATIONS, yamlDocs, type Manifest } from '../e2e/lib/manifests.js';
import { helm, imageValues, installRelease, kubectl, kubectlJson, nodeEnv, ok, podReady, releasePods, show, uninstallRelease, waitFor, warnings, type Pod, type Run } from './lib.js';

const RELEASE = 'n01';
const NS = 'mtls-guard-n01';
const APPS = 'n01-bookinfo';
const AUDIT_NS = 'n01-audit';
const WORKLOADS = 'n01-workloads';
/** A sidecar-injected namespace whose Service `web` is STRICT (cluster mode's refusal). */
const MESH = 'n01-mesh';
const UNAVAILABLE = 'Warning: mtls-guard: mesh state unavailable: judged this object alone';
const RATINGS_SPEC = { selector: { matchLabels: { app: 'ratings' } }, mtls: { mode: 'DISABLE' } };

/** kubectl's warnings, failing on the cluster-mode fallback's (the pods must see the mesh). */
function ruleWarnings(r: Run): string[] {
  const w = warnings(r);
  assert.ok(!w.includes(UNAVAILABLE), `judged without the mesh:\n${show(r)}`);
  return w;
}

function apply(docs: Manifest[], extra: string[] = []): Run {
  return kubectl(['apply', ...extra, '-f', '-'], { input: yamlDocs(...docs) });
}

/** Applies manifests expecting each to be refused by our webhook; returns our messages. */
function applyDenied(...docs: Manifest[]): string[] {
  const r = apply(docs);
  assert.equal(r.status, 1, show(r));
  assert.equal(r.stdout, '', show(r));
  const errors = serverErrors(r.stderr);
  assert.equal(errors.length, docs.length, show(r));
  return errors.map((e) => {
    const m = deniedMessage(e);
    assert.ok(m, `not refused by validate.mtls-guard.io:\n${e}`);
    return m;
  });
}

function stored(kind: string, namespace: string, name: string): boolean {
  return kubectl(['-n', namespace, 'get', kind, name]).status === 0;
}

function templateAnnotations(kind: string, namespace: string, name: string): Record<string, string> | undefined {
  const obj = kubectlJson<{ spec: { template?: { metadata?: { annotations?: Record<string, string> } }; jobTemplate?: { spec: { template: { metadata?: { annotations?: Record<string, string> } } } } } }>(['-n', namespace, 'get', kind, name]);
  return (obj.spec.template ?? obj.spec.jobTemplate?.spec.template)?.metadata?.annotations;
}

/** Sum of a metric's samples (labels including `labels`) over every pod, read from the pod IPs. */
async function podMetric(name: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0;
  for (const pod of releasePods(RELEASE, NS)) {
    const res = await fetch(`http://${String(pod.status.podIP)}:9090/metrics`, { signal: AbortSignal.timeout(5000) });
    for (const line of (await res.text()).split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (!m || m[1] !== name) continue;
      if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
    }
  }
  return sum;
}

/** The cluster-mode part of a pod's /readyz body (src/server/cluster-state.ts status()). */
interface ClusterStatus {
  mesh: string;
  kinds: Record<string, { phase: string; objects: number }>;
}

/** Each pod's /readyz `cluster` detail, read from the metrics port on the pod IP. */
async function clusterStatus(pods: Pod[]): Promise<Map<string, ClusterStatus | undefined>> {
  const out = new Map<string, ClusterStatus | undefined>();
  for (const pod of pods) {
    const res = await fetch(`http://${String(pod.status.podIP)}:9090/readyz`, { signal: AbortSignal.timeout(5000) });
    out.set(pod.metadata.name, ((await res.json()) as { cluster?: ClusterStatus }).cluster);
  }
  return out;
}

/** Waits until every pod of the release reports the mesh available with `counts` objects per kind. */
async function meshSynced(counts: Record<string, number> = {}): Promise<void> {
  let last = '';
  await waitFor(`every pod's mesh available${Object.keys(counts).length ? ` with ${JSON.stringify(counts)}` : ''}`, async () => {
    const pods = releasePods(RELEASE, NS).filter((p) => !p.metadata.deletionTimestamp && podReady(p));
    const status = await clusterStatus(pods);
    last = JSON.stringify(Object.fromEntries(status));
    return pods.length === 2 && [...status.values()].every((c) => c?.mesh === 'available' && Object.entries(counts).every(([k, n]) => c.kinds[k]?.objects === n));
  }, 60_000).catch((e: unknown) => {
    throw new Error(`${String(e)}\nlast /readyz cluster details: ${last}`);
  });
}

/** How many objects of a kind the API server holds, in all namespaces. */
function countAll(resource: string): number {
  return kubectlJson<{ items: unknown[] }>(['get', resource, '--all-namespaces']).items.length;
}

interface WebhookConfiguration {
  webhooks: { name: string; clientConfig: { service?: { name: string; namespace: string }; url?: string; caBundle?: string } }[];
}

function validating(): WebhookConfiguration {
  return kubectlJson<WebhookConfiguration>(['get', 'validatingwebhookconfiguration', 'validate.mtls-guard.io']);
}

interface AuditEvent {
  stage: string;
  verb: string;
  objectRef?: { resource?: string; namespace?: string; name?: string };
  annotations?: Record<string, string>;
}

async function auditEventFor(resource: string, namespace: string, name: string): Promise<AuditEvent> {
  let found: AuditEvent | undefined;
  await waitFor(`the audit event of creating ${resource} ${namespace}/${name}`, () => {
    found = readFileSync(join(nodeEnv().work, 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as AuditEvent)
      .find((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === resource && e.objectRef.namespace === namespace && e.objectRef.name === name);
    return found !== undefined;
  }, 15_000);
  return found as AuditEvent;
}

describe('node: helm install with default values runs Ready pods that judge through the Service', () => {
  let pods: Pod[] = [];

  before(() => {
    installRelease({ release: RELEASE, namespace: NS });
    pods = releasePods(RELEASE, NS);
    for (const ns of [APPS, WORKLOADS]) ok(kubectl(['create', 'namespace', ns]));
  });
  after(async () => {
    await uninstallRelease(RELEASE, NS);
    for (const ns of [APPS, AUDIT_NS, WORKLOADS, MESH]) kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
  });

  it('runs two Ready pods of the image built from ./Dockerfile on the node, no restarts', () => {
    const env = nodeEnv();
    assert.equal(pods.length, 2, JSON.stringify(pods.map((p) => p.metadata.name)));
    for (const pod of pods) {
      assert.ok(podReady(pod), `${pod.metadata.name} not Ready`);
      assert.equal(pod.spec.nodeName, env.nodeName);
      assert.equal(pod.spec.containers[0]?.image, env.image);
      assert.equal(pod.status.containerStatuses?.[0]?.restartCount, 0, `${pod.metadata.name} restarted`);
      assert.match(pod.status.podIP ?? '', /^10\.88\.0\.\d+$/);
    }
  });

  it("readiness comes from the chart's HTTPS probes; /readyz answers on each pod IP with a certificate for the Service", async () => {
    const d = kubectlJson<{ spec: { template: { spec: { containers: { readinessProbe?: { httpGet?: { path?: string; scheme?: string } } }[] } } } }>(['-n', NS, 'get', 'deployment', `${RELEASE}-mtls-guard`]);
    const probe = d.spec.template.spec.containers[0]?.readinessProbe?.httpGet;
    assert.deepEqual({ path: probe?.path, scheme: probe?.scheme }, { path: '/readyz', scheme: 'HTTPS' });
    // Verified as the API server verifies it: the webhook configuration's caBundle, the Service's DNS name.
    const ca = Buffer.from(validating().webhooks[0]?.clientConfig.caBundle ?? '', 'base64');
    for (const pod of pods) {
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const req = httpsGet(
          { host: pod.status.podIP, port: 8443, path: '/readyz', ca, servername: `${RELEASE}-mtls-guard.${NS}.svc`, timeout: 5000 },
          (res) => {
            res.resume();
            resolve(res.statusCode);
          },
        );
        req.on('error', reject);
        req.on('timeout', () => req.destroy(new Error('timed out')));
      });
      assert.equal(status, 200, pod.metadata.name);
    }
  });

  it('the webhook configurations call the Service (not a URL), and its EndpointSlice lists both pods', () => {
    const mutating = kubectlJson<WebhookConfiguration>(['get', 'mutatingwebhookconfiguration', 'mutate.mtls-guard.io']);
    for (const w of [...validating().webhooks, ...mutating.webhooks]) {
      assert.deepEqual({ name: w.clientConfig.service?.name, namespace: w.clientConfig.service?.namespace }, { name: `${RELEASE}-mtls-guard`, namespace: NS }, w.name);
      assert.equal(w.clientConfig.url, undefined);
      assert.ok(w.clientConfig.caBundle, 'caBundle set (helm certificates mode)');
    }
    const slices = kubectlJson<{ items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[] }>(['-n', NS, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${RELEASE}-mtls-guard`]);
    const ready = slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses).sort();
    assert.deepEqual(ready, pods.map((p) => String(p.status.podIP)).sort());
  });

  it('cluster mode: each pod watches the API server through the kubernetes Service with its ServiceAccount token; every kind synced', async () => {
    await meshSynced();
    for (const [name, c] of await clusterStatus(pods)) {
      assert.equal(c?.mesh, 'available', name);
      const notSynced = Object.entries(c.kinds).filter(([, k]) => k.phase !== 'synced');
      assert.deepEqual(notSynced, [], `${name}: ${JSON.stringify(c.kinds)}`);
      for (const kind of ['Namespace', 'Service', 'Deployment', 'PeerAuthentication', 'DestinationRule']) assert.ok(kind in c.kinds, `${name} watches ${kind}`);
    }
    for (const pod of pods) {
      // client-node's in-cluster config: KUBERNETES_SERVICE_HOST/PORT, set by the kubelet.
      const logs = ok(kubectl(['-n', NS, 'logs', pod.metadata.name])).stdout;
      const start = logs.split('\n').find((l) => l.includes('cluster mode: watching the mesh'));
      assert.equal((JSON.parse(start ?? '{}') as { server?: string }).server, 'https://10.0.0.1:443', logs.slice(0, 2000));
    }
    // The API server saw the release's ServiceAccount (the projected token) list and watch from
    // each pod IP (no masquerading on the way: kube-proxy only rewrote the destination).
    const sa = `system:serviceaccount:${NS}:${RELEASE}-mtls-guard`;
    const seen = new Set<string>();
    for (const line of readFileSync(join(nodeEnv().work, 'audit.log'), 'utf8').split('\n')) {
      if (!line.includes(sa)) continue;
      const e = JSON.parse(line) as { verb: string; user: { username: string }; sourceIPs?: string[]; responseStatus?: { code?: number } };
      if (e.user.username === sa && (e.verb === 'list' || e.verb === 'watch') && e.responseStatus?.code === 200) for (const ip of e.sourceIPs ?? []) seen.add(ip);
    }
    assert.deepEqual([...seen].sort(), pods.map((p) => String(p.status.podIP)).sort());
  });

  it("cluster mode: refuses a DestinationRule that the mesh shows to break a STRICT Service (destinationrule-strict-conflict), which one object alone passes", async () => {
    const web: Manifest = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: MESH }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } };
    ok(kubectl(['create', 'namespace', MESH]));
    ok(kubectl(['label', 'namespace', MESH, 'istio-injection=enabled']));
    const setup = apply([web, deployment(MESH, 'web'), peerAuthentication(MESH, 'default', { mtls: { mode: 'STRICT' } })]);
    assert.equal(setup.status, 0, show(setup));
    assert.ok(!warnings(setup).includes(UNAVAILABLE), show(setup));
    await meshSynced({ Service: countAll('services'), Deployment: countAll('deployments'), PeerAuthentication: countAll('peerauthentications.security.istio.io') });

    // SIMPLE (non-Istio TLS) is no single-object violation: only the mesh says the server side is STRICT.
    const simple = destinationRule(MESH, 'web-simple', 'web', { trafficPolicy: { tls: { mode: 'SIMPLE' } } });
    const [message] = applyDenied(simple);
    assert.match(message ?? '', new RegExp(`^DestinationRule ${MESH}/web-simple violates 1 mTLS guardrail:\\n\\[destinationrule-strict-conflict\\] spec\\.trafficPolicy\\.tls\\.mode: SIMPLE \\(.*-> web:80 -> container port 8080 of Deployment ${MESH}/web: STRICT by PeerAuthentication ${MESH}/default \\(spec\\.mtls\\.mode\\)\\)`));
    assert.match(message ?? '', /a STRICT port takes only Istio mTLS/);
    assert.equal(stored('destinationrule', MESH, 'web-simple'), false);
    // DISABLE: the single-object rule and the mesh rule both.
    const [plaintext] = applyDenied(destinationRule(MESH, 'web-plaintext', 'web'));
    assert.match(plaintext ?? '', new RegExp(`^DestinationRule ${MESH}/web-plaintext violates 2 mTLS guardrails:`));
    assert.match(plaintext ?? '', /\n\[destinationrule-disable\] /);
    assert.match(plaintext ?? '', /\n\[destinationrule-strict-conflict\] spec\.trafficPolicy\.tls\.mode: DISABLE /);
    // ISTIO_MUTUAL is what the STRICT port takes: admitted without a warning.
    const mutual = apply([destinationRule(MESH, 'web-mutual', 'web', { trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } })]);
    assert.equal(mutual.status, 0, show(mutual));
    assert.deepEqual(warnings(mutual), [], show(mutual));
  });

  it('scenario 1: refuses the ratings PeerAuthentication DISABLE with rule id, object, why and fix; the pods counted it', async () => {
    const before = await podMetric('mtls_guard_admission_requests_total', { webhook: 'validate', decision: 'denied' });
    const [message] = applyDenied(peerAuthentication(APPS, 'ratings-mtls-disable', RATINGS_SPEC));
    assert.ok(
      message?.startsWith(
        `PeerAuthentication ${APPS}/ratings-mtls-disable violates 1 mTLS guardrail:\n` +
          `[peerauthentication-disable] spec.mtls.mode: DISABLE (workload scope: pods with app=ratings in ${APPS})\n` +
          '  why: these pods would accept plaintext',
      ),
      message,
    );
    // The chart's default policy allowlists only the OSSM-managed Jaeger collector.
    assert.match(message ?? '', /\n {2}allowed here: istio-system\/disable-mtls-jaeger-collector \("OSSM-managed"\)/);
    assert.match(message ?? '', /\n {2}fix: use STRICT .*rules\.peerauthentication-disable\.allow/);
    assert.equal(stored('peerauthentication', APPS, 'ratings-mtls-disable'), false);
    assert.equal(await podMetric('mtls_guard_admission_requests_total', { webhook: 'validate', decision: 'denied' }), before + 1);
  });

  it('scenario 2: refuses a productpage DestinationRule DISABLE by short host and by FQDN; v1beta1 the same as v1', () => {
    const [short, fqdn] = applyDenied(destinationRule(APPS, 'productpage-short', 'productpage'), destinationRule(APPS, 'productpage-fqdn', `productpage.${APPS}.svc.cluster.local`));
    assert.match(short ?? '', new RegExp(`^DestinationRule ${APPS}/productpage-short violates 1 mTLS guardrail:\\n\\[destinationrule-disable\\] spec\\.trafficPolicy\\.tls\\.mode: DISABLE \\(traffic to productpage\\.${APPS}\\.svc\\.cluster\\.local \\(written "productpage"\\)`));
    assert.match(fqdn ?? '', /\[destinationrule-disable\] spec\.trafficPolicy\.tls\.mode: DISABLE \(traffic to productpage\.n01-bookinfo\.svc\.cluster\.local, all ports\)/);
    const messages = applyDenied(
      peerAuthentication(APPS, 'ratings-v1api', RATINGS_SPEC, 'security.istio.io/v1'),
      peerAuthentication(APPS, 'ratings-v1beta1api', RATINGS_SPEC, 'security.istio.io/v1beta1'),
    );
    assert.equal(messages[0]?.replace('ratings-v1api', 'X'), messages[1]?.replace('ratings-v1beta1api', 'X'));
  });

  it('scenario 3: annotates Deployment, CronJob and DeploymentConfig templates; an opted-out one unchanged; idempotent', () => {
    const docs = [deployment(WORKLOADS, 'web'), cronJob(WORKLOADS, 'nightly'), deploymentConfig(WORKLOADS, 'legacy-dc'), deployment(WORKLOADS, 'opted-out', { 'sidecar.istio.io/inject': 'false' })];
    const r = apply(docs);
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(ruleWarnings(r), [], show(r));
    for (const [kind, name] of [['deployment', 'web'], ['cronjob', 'nightly'], ['deploymentconfig', 'legacy-dc']] as const) {
      assert.deepEqual(templateAnnotations(kind, WORKLOADS, name), SIDECAR_ANNOTATIONS, `${kind} ${name}`);
    }
    assert.deepEqual(templateAnnotations('deployment', WORKLOADS, 'opted-out'), { 'sidecar.istio.io/inject': 'false' });
    const again = apply(docs);
    assert.equal(again.status, 0, show(again));
    assert.deepEqual(again.stdout.trim().split('\n'), ['deployment.apps/web unchanged', 'cronjob.batch/nightly unchanged', 'deploymentconfig.apps.openshift.io/legacy-dc unchanged', 'deployment.apps/opted-out unchanged']);
  });

  it('scenario 3: warns about inbound ports that bypass the sidecar', () => {
    const r = apply([deployment(WORKLOADS, 'bypass', { 'traffic.sidecar.istio.io/excludeInboundPorts': '9080' })]);
    assert.equal(r.status, 0, show(r));
    const w = ruleWarnings(r);
    assert.equal(w.length, 1, show(r));
    assert.match(ourWarning(w[0], 'workload-port-exclusion', `Deployment ${WORKLOADS}/bypass`), /excludeInboundPorts/);
  });

  it('scenario 5: a server-side dry run is denied with the message of a real apply, and returns the mutation without storing', () => {
    const pa = peerAuthentication(APPS, 'ratings-dry', RATINGS_SPEC);
    const real = apply([pa]);
    const dry = apply([pa], ['--dry-run=server']);
    assert.equal(dry.status, 1, show(dry));
    const dryMessage = deniedMessage(serverErrors(dry.stderr)[0] ?? '');
    assert.ok(dryMessage?.startsWith(`PeerAuthentication ${APPS}/ratings-dry violates 1 mTLS guardrail:`), show(dry));
    assert.equal(dryMessage, deniedMessage(serverErrors(real.stderr)[0] ?? ''));
    const preview = kubectl(['apply', '--dry-run=server', '-o', 'yaml', '-f', '-'], { input: yamlDocs(deployment(WORKLOADS, 'preview')) });
    assert.equal(preview.status, 0, show(preview));
    const obj = parse(preview.stdout) as { spec: { template: { metadata: { annotations?: Record<string, string> } } } };
    assert.deepEqual(obj.spec.template.metadata.annotations, SIDECAR_ANNOTATIONS);
    assert.equal(stored('deployment', WORKLOADS, 'preview'), false);
  });

  it('scenario 4: audit mode for one namespace (helm upgrade rolls the pods): created with a warning and audit annotations; enforced elsewhere', async () => {
    ok(kubectl(['create', 'namespace', AUDIT_NS]));
    const up = helm(
      ['upgrade', RELEASE, nodeEnv().chart, '--namespace', NS, '--reuse-values', ...imageValues(), '--set-json', `policy.namespaces=[{"match":"${AUDIT_NS}","mode":"audit"}]`, '--wait', '--timeout', '180s'],
      { timeoutMs: 240_000 },
    );
    assert.equal(up.status, 0, show(up));
    await waitFor('the rolled pods to be Ready', () => {
      const now = releasePods(RELEASE, NS).filter((p) => !p.metadata.deletionTimestamp);
      return now.length === 2 && now.every(podReady) && now.every((p) => !pods.some((old) => old.metadata.uid === p.metadata.uid));
    }, 120_000);
    // Ready does not wait for the informers (readiness never depends on the API server): the new
    // pods judge with the mesh once it is listed.
    await meshSynced();

    const r = apply([peerAuthentication(AUDIT_NS, 'ratings-mtls-disable', RATINGS_SPEC)]);
    assert.equal(r.status, 0, show(r));
    const w = ruleWarnings(r);
    assert.equal(w.length, 1, show(r));
    assert.match(ourWarning(w[0], 'peerauthentication-disable', `PeerAuthentication ${AUDIT_NS}/ratings-mtls-disable`), /audit mode/);
    const event = await auditEventFor('peerauthentications', AUDIT_NS, 'ratings-mtls-disable');
    assert.equal(event.annotations?.['validate.mtls-guard.io/mode'], 'audit', JSON.stringify(event));
    assert.match(event.annotations?.['validate.mtls-guard.io/violations'] ?? '', /peerauthentication-disable/, JSON.stringify(event));

    const d = apply([deployment(AUDIT_NS, 'reviews')]);
    assert.equal(d.status, 0, show(d));
    assert.equal(ruleWarnings(d).filter((l) => l.startsWith('Warning: mtls-guard: [mutation] ')).length, 2, show(d));
    assert.equal(templateAnnotations('deployment', AUDIT_NS, 'reviews'), undefined, 'audit mode must not change the object');
    const devent = await auditEventFor('deployments', AUDIT_NS, 'reviews');
    assert.equal(devent.annotations?.['mutate.mtls-guard.io/mode'], 'audit', JSON.stringify(devent));

    const [still] = applyDenied(peerAuthentication(APPS, 'ratings-still-denied', RATINGS_SPEC));
    assert.match(still ?? '', new RegExp(`^PeerAuthentication ${APPS}/ratings-still-denied violates 1 mTLS guardrail`));
  });
});
