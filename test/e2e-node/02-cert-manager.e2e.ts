// Node scenario 2 (issue 14): the chart in cert-manager mode with a REAL cert-manager. The
// controllers and the cainjector of github.com/cert-manager/cert-manager (pinned, built by
// scripts/cert-manager-tools.sh with our small main, test/e2e-node/cert-manager/README.md) run
// as host processes against the suite's API server, started and stopped by this file. Then:
// the chart's Certificates are issued by the chart's own self-signed -> CA Issuers, cainjector
// puts the CA into both webhook configurations, the pods become Ready serving the issued
// certificate, admissions through the API server work; a forced renewal (what `cmctl renew`
// does: Issuing=True through the status subresource) rotates the Secret, the kubelet updates the
// mounted files, each pod reloads them (the served certificate's serial, read over TLS from the
// pod IP, changes) and a steady stream of server-side dry-run creates sent from before the
// renewal until every pod serves the new certificate has zero failed admissions. Then the same
// for a CA rotation (the CA renewed, then the serving certificate): cainjector keeps the old CA
// in caBundle beside the new one, so the pods' lag behind the Secret costs no admission.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { statusMessage } from '../e2e/lib/cluster.js';
import { DENIED_PREFIX, deployment, peerAuthentication } from '../e2e/lib/manifests.js';
import { installRelease, kubectl, kubectlJson, nodeEnv, ok, podReady, releasePods, uninstallRelease, waitFor } from './lib.js';

const RELEASE = 'cm';
const NS = 'e2e-node-cm';
/** Judged namespace: the release's webhooks match only namespaces labelled e2e-node-cm=target. */
const TARGET = 'e2e-node-cm-target';
const FULLNAME = `${RELEASE}-mtls-guard`;
const TLS_CERT = `${FULLNAME}-tls`; // Certificate and Secret (chart: mtls-guard.tlsSecretName)
const CA_CERT = `${FULLNAME}-ca`;
const SERVER_NAME = `${FULLNAME}.${NS}.svc`;
const WEBHOOK_PORT = 8443; // the container's port (the Service's 443 targets it)
const VWC = `${NS}.validate.mtls-guard.io`;
const MWC = `${NS}.mutate.mtls-guard.io`;
/** deploy/crds of cert-manager (scripts/cert-manager-tools.sh puts them in one file). */
const CM_CRDS = ['certificates', 'certificaterequests', 'issuers', 'clusterissuers'].map((r) => `${r}.cert-manager.io`).concat(['orders', 'challenges'].map((r) => `${r}.acme.cert-manager.io`));
const RATE_PER_S = 10;
/** At most 150 s of stream; the kubelet's resync (syncFrequency 10 s on the suite's node) is the long part. */
const MAX_REQUESTS = 1500;
/** Requests kept going after every pod serves the renewed certificate. */
const TAIL_MS = 3000;
const REQUEST_TIMEOUT_MS = 20_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let kubeConfig: k8s.KubeConfig | undefined;
function kc(): k8s.KubeConfig {
  if (!kubeConfig) {
    kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromFile(nodeEnv().kubeconfig);
  }
  return kubeConfig;
}
const objects = (): k8s.KubernetesObjectApi => k8s.KubernetesObjectApi.makeApiClient(kc());

/**
 * The cert-manager binary directory: $E2E_CERT_MANAGER_BIN when the runner built it, else
 * scripts/cert-manager-tools.sh now (cached after the first build; a cold build takes minutes).
 */
function certManagerBin(): string {
  const given = process.env['E2E_CERT_MANAGER_BIN'];
  if (given) return given;
  const env = nodeEnv();
  const r = spawnSync(join(env.root, 'scripts', 'cert-manager-tools.sh'), [], { cwd: env.root, encoding: 'utf8', timeout: 40 * 60_000, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, 'scripts/cert-manager-tools.sh failed (its output is above)');
  const bin = r.stdout.trim().split('\n').at(-1);
  assert.ok(bin, 'scripts/cert-manager-tools.sh printed no directory');
  return bin;
}

/** One cert-manager-e2e process (controller or cainjector), its output in the run's work dir. */
function startCertManager(bin: string, what: 'controller' | 'cainjector'): ChildProcess {
  const env = nodeEnv();
  const log = createWriteStream(join(env.work, `cert-manager-${what}.log`));
  const child = spawn(join(bin, 'cert-manager-e2e'), [what, '--kubeconfig', env.kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

/** SIGTERM, then SIGKILL after 10 s; resolves once the process is gone. */
async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
}
interface Certificate {
  metadata: { generation: number };
  status?: { conditions?: Condition[]; revision?: number };
}
interface Secret {
  data?: Record<string, string>;
}
interface WebhookConfiguration {
  webhooks: { clientConfig: { caBundle?: string } }[];
}

const certificate = (name: string): Certificate => kubectlJson<Certificate>(['-n', NS, 'get', 'certificate', name]);
const isReady = (c: Certificate): boolean => c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false;
const secretData = (name: string): Record<string, string> => kubectlJson<Secret>(['-n', NS, 'get', 'secret', name]).data ?? {};
const decode = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString('utf8');
/** The serial (uppercase hex, as node:tls reports it) of the serving Secret's tls.crt. */
const secretSerial = (): string => new X509Certificate(decode(secretData(TLS_CERT)['tls.crt'])).serialNumber;
const caBundles = (): string[] => [
  ...kubectlJson<WebhookConfiguration>(['get', 'validatingwebhookconfiguration', VWC]).webhooks,
  ...kubectlJson<WebhookConfiguration>(['get', 'mutatingwebhookconfiguration', MWC]).webhooks,
].map((w) => w.clientConfig.caBundle ?? '');

/**
 * What `cmctl renew` does (cmctl cmd/renew: SetCertificateCondition Issuing=True, reason
 * ManuallyTriggered, UpdateStatus), as a JSON patch of the Certificate's status subresource.
 */
function forceRenewal(name: string): void {
  const c = certificate(name);
  const condition = {
    type: 'Issuing',
    status: 'True',
    reason: 'ManuallyTriggered',
    message: 'Certificate re-issuance manually triggered',
    lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    observedGeneration: c.metadata.generation,
  };
  const patch = c.status?.conditions ? [{ op: 'add', path: '/status/conditions/-', value: condition }] : [{ op: 'add', path: '/status/conditions', value: [condition] }];
  ok(kubectl(['-n', NS, 'patch', 'certificate', name, '--subresource=status', '--type=json', '-p', JSON.stringify(patch)]));
}

/** The serial of the certificate the pod serves on its webhook port, verified against `ca` for SERVER_NAME. */
function servedSerial(ip: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: ip, port: WEBHOOK_PORT, servername: SERVER_NAME, ca, timeout: 5000 }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.once('error', reject);
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`TLS to ${ip}:${WEBHOOK_PORT}: no handshake within 5 s`));
    });
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (client timeout)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

interface Outcome {
  i: number;
  sentAt: number;
  ok: boolean;
  detail: string;
}

/** Even: a Deployment that must come back mutated; odd: a PeerAuthentication DISABLE that must be denied. */
async function admit(i: number, sentAt: number): Promise<Outcome> {
  const name = `cm-${i}`;
  try {
    if (i % 2 === 0) {
      const created = (await withTimeout(objects().create(deployment(TARGET, name) as never, undefined, 'All'), REQUEST_TIMEOUT_MS)) as k8s.V1Deployment;
      const mutated = created.spec?.template.metadata?.annotations?.['sidecar.istio.io/rewriteAppHTTPProbers'] === 'true';
      return { i, sentAt, ok: mutated, detail: mutated ? 'mutated' : `fail-open: Deployment not mutated: ${JSON.stringify(created.spec?.template.metadata?.annotations)}` };
    }
    await withTimeout(objects().create(peerAuthentication(TARGET, name, { mtls: { mode: 'DISABLE' } }) as never, undefined, 'All'), REQUEST_TIMEOUT_MS);
    return { i, sentAt, ok: false, detail: 'fail-open: PeerAuthentication DISABLE admitted' };
  } catch (err) {
    const message = statusMessage(err);
    const denied = i % 2 === 1 && message.includes(`${DENIED_PREFIX}PeerAuthentication ${TARGET}/${name} violates 1 mTLS guardrail`);
    return { i, sentAt, ok: denied, detail: denied ? 'denied' : message };
  }
}

/** How many times the pod's server logged a certificate reload (src/server/tls.ts). */
function reloads(pod: string): number {
  const logs = ok(kubectl(['-n', NS, 'logs', pod]));
  return logs.stdout.split('\n').filter((l) => l.includes('serving certificate reloaded')).length;
}

interface Rotation {
  oldSerial: string;
  newSerial: string;
  /** The serving Secret's ca.crt (PEM) before and after. */
  oldCa: string;
  newCa: string;
}

/**
 * Sends the admission stream (RATE_PER_S, alternating mutated Deployment / denied
 * PeerAuthentication) from 2 s before `trigger` until TAIL_MS after every pod serves the serving
 * Secret's new certificate (read over TLS from the pod IP), and asserts: the Secret rotated, every
 * pod reloaded it without a restart (same pods, no container restart, the server logged the
 * reload), and zero failed admissions. Prints the timeline.
 */
async function rotateUnderLoad(what: string, trigger: (timeline: string[], at: () => number) => Promise<void>): Promise<Rotation> {
  const pods = releasePods(RELEASE, NS);
  const restarts = (uid: string, list: typeof pods): number => (list.find((p) => p.metadata.uid === uid)?.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);
  const reloadsBefore = new Map(pods.map((p) => [p.metadata.name, reloads(p.metadata.name)]));
  const oldSerial = secretSerial();
  const oldCa = decode(secretData(TLS_CERT)['ca.crt']);

  const t0 = Date.now();
  const at = (): number => Date.now() - t0;
  const timeline: string[] = [];
  let doneAt: number | undefined;
  const pending: Promise<Outcome>[] = [];
  const stream = (async () => {
    for (let i = 0; i < MAX_REQUESTS; i++) {
      if (doneAt !== undefined && at() > doneAt + TAIL_MS) break;
      const due = (i * 1000) / RATE_PER_S;
      if (due > at()) await sleep(due - at());
      pending.push(admit(i, at()));
    }
  })();
  try {
    await sleep(2000);
    const triggeredAt = at();
    timeline.push(`${triggeredAt} ms ${what}`);
    await trigger(timeline, at);

    let newSerial = oldSerial;
    await waitFor('cert-manager to rotate the serving Secret', () => (newSerial = secretSerial()) !== oldSerial, 60_000);
    const newCa = decode(secretData(TLS_CERT)['ca.crt']);
    timeline.push(`${at()} ms Secret rotated: serial ${oldSerial} -> ${newSerial}`);

    // Trust both CAs while probing: during a CA rotation a pod serves the old CA's certificate
    // until the kubelet updates its files.
    const trusted = `${oldCa}\n${newCa}`;
    const served = new Map<string, string>();
    await waitFor(
      'every pod to serve the renewed certificate (kubelet updates the files, the server reloads them)',
      async () => {
        for (const p of pods) {
          const s = await servedSerial(p.status.podIP ?? '', trusted).catch((err: unknown) => `error: ${String(err)}`);
          if (served.get(p.metadata.name) !== s) timeline.push(`${at()} ms ${p.metadata.name} serves ${s}`);
          served.set(p.metadata.name, s);
        }
        const done = [...served.values()].every((s) => s === newSerial);
        if (done) doneAt = at();
        return done;
      },
      120_000,
      500,
    );
    await stream;
    const outcomes = await Promise.all(pending);
    const failed = outcomes.filter((o) => !o.ok);
    const report = `${what}: ${outcomes.length} admissions over ${at()} ms, ${failed.length} failed; timeline:\n  ${timeline.join('\n  ')}`;
    console.log(report);

    assert.deepEqual(failed.slice(0, 10).map((o) => `#${o.i} at ${o.sentAt} ms: ${o.detail}`), [], `zero failed admissions expected; ${report}`);
    assert.ok((outcomes[0]?.sentAt ?? Infinity) < triggeredAt, 'the stream started before the renewal');
    assert.ok((outcomes.at(-1)?.sentAt ?? 0) >= (doneAt ?? Infinity), 'the stream ran until every pod served the new certificate');
    assert.ok(isReady(certificate(TLS_CERT)), 'the Certificate is Ready again');
    // Reloaded, not restarted: the same pods, no container restart, the reload logged.
    const podsAfter = releasePods(RELEASE, NS);
    assert.deepEqual(podsAfter.map((p) => p.metadata.uid).sort(), pods.map((p) => p.metadata.uid).sort(), 'the same pods');
    assert.deepEqual(pods.map((p) => restarts(p.metadata.uid, podsAfter)), pods.map((p) => restarts(p.metadata.uid, pods)), 'no container restarted');
    for (const p of pods) assert.ok(reloads(p.metadata.name) > (reloadsBefore.get(p.metadata.name) ?? 0), `${p.metadata.name} logged 'serving certificate reloaded' once more`);
    return { oldSerial, newSerial, oldCa, newCa };
  } finally {
    doneAt ??= at() - TAIL_MS; // ends the stream on a failure too
    await stream;
    await Promise.allSettled(pending);
  }
}

describe('node scenario 2: cert-manager mode with a real cert-manager', { timeout: 45 * 60_000 }, () => {
  let controller: ChildProcess | undefined;
  let cainjector: ChildProcess | undefined;

  before(
    async () => {
      const bin = certManagerBin();
      ok(kubectl(['apply', '--server-side', '-f', join(bin, 'cert-manager-crds.yaml')], { timeoutMs: 120_000 }));
      ok(kubectl(['wait', '--for=condition=Established', 'crd', ...CM_CRDS, '--timeout=60s'], { timeoutMs: 90_000 }));
      controller = startCertManager(bin, 'controller');
      cainjector = startCertManager(bin, 'cainjector');

      ok(kubectl(['create', 'namespace', TARGET]));
      ok(kubectl(['label', 'namespace', TARGET, `${NS}=target`]));
      const dir = mkdtempSync(join(tmpdir(), `${NS}-`));
      const values = join(dir, 'values.yaml');
      writeFileSync(
        values,
        stringify({
          certificates: { mode: 'cert-manager' },
          cluster: { enabled: false }, // about certificates only; 01 runs cluster mode in the pods
          webhook: { validatingConfigurationName: VWC, mutatingConfigurationName: MWC, matchNamespaceLabels: { [NS]: 'target' } },
        }),
      );
      try {
        // --wait: the pods mount the serving Secret, so they start only once cert-manager issued it.
        installRelease({ release: RELEASE, namespace: NS, namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'restricted' }, args: ['-f', values], timeoutSeconds: 240 });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    { timeout: 45 * 60_000 },
  );

  after(async () => {
    try {
      await uninstallRelease(RELEASE, NS);
      kubectl(['delete', 'namespace', TARGET, '--ignore-not-found', '--wait=false']);
    } finally {
      await Promise.all([stopProcess(controller), stopProcess(cainjector)]);
    }
  });

  it('issues both Certificates from the chart Issuers and injects the CA into both webhook configurations', async () => {
    for (const name of [CA_CERT, TLS_CERT]) assert.ok(isReady(certificate(name)), `Certificate ${name} Ready: ${JSON.stringify(certificate(name).status)}`);
    const data = secretData(TLS_CERT);
    assert.deepEqual(['ca.crt', 'tls.crt', 'tls.key'].filter((k) => !data[k]), [], `Secret ${TLS_CERT} holds ca.crt, tls.crt and tls.key`);
    const leaf = new X509Certificate(decode(data['tls.crt']));
    const ca = new X509Certificate(decode(data['ca.crt']));
    assert.ok(leaf.verify(ca.publicKey), 'the serving certificate is signed by the Secret\'s ca.crt');
    assert.equal(ca.toString(), new X509Certificate(decode(secretData(CA_CERT)['tls.crt'])).toString(), 'ca.crt is the chart\'s CA Certificate');
    assert.ok(leaf.checkHost(SERVER_NAME), `the serving certificate names ${SERVER_NAME}: ${leaf.subjectAltName ?? ''}`);
    await waitFor('cainjector to fill caBundle of both webhook configurations', () => caBundles().every((b) => b === data['ca.crt']), 60_000);
    assert.ok(caBundles().length >= 2, 'both configurations have webhooks (cluster mode would add validate-delete)');
  });

  it('runs Ready pods that serve the issued certificate, and admissions through the API server work', async () => {
    const pods = releasePods(RELEASE, NS);
    assert.ok(pods.length >= 1 && pods.every(podReady), `Ready pods: ${pods.map((p) => `${p.metadata.name}:${String(podReady(p))}`).join(' ')}`);
    const ca = decode(secretData(TLS_CERT)['ca.crt']);
    const serial = secretSerial();
    for (const p of pods) assert.equal(await servedSerial(p.status.podIP ?? '', ca), serial, `${p.metadata.name} serves the Secret's certificate`);
    const results = await Promise.all([admit(0, 0), admit(1, 0)]);
    assert.deepEqual(results.map((r) => r.detail), ['mutated', 'denied']);
  });

  it('a forced renewal rotates the Secret, every pod reloads the new files, and no admission fails meanwhile', async () => {
    const oldKey = secretData(TLS_CERT)['tls.key'];
    const bundlesBefore = caBundles();
    const r = await rotateUnderLoad('forced renewal of the serving Certificate', async () => {
      forceRenewal(TLS_CERT);
    });
    assert.notEqual(secretData(TLS_CERT)['tls.key'], oldKey, 'a new private key (rotationPolicy: Always)');
    assert.deepEqual(caBundles(), bundlesBefore, 'same CA: caBundle unchanged');
    assert.equal(r.newCa, r.oldCa, 'same CA');
  });

  it('a CA rotation (CA renewed, then the serving certificate): caBundle holds both CAs, pods reload, no admission fails', async () => {
    const oldCaSecret = secretData(CA_CERT)['tls.crt'];
    const r = await rotateUnderLoad('forced renewal of the CA Certificate, then of the serving one', async (timeline, at) => {
      forceRenewal(CA_CERT);
      await waitFor('cert-manager to renew the CA', () => secretData(CA_CERT)['tls.crt'] !== oldCaSecret && isReady(certificate(CA_CERT)), 60_000);
      timeline.push(`${at()} ms CA Secret rotated`);
      forceRenewal(TLS_CERT);
    });
    assert.notEqual(r.newCa, r.oldCa, 'the serving Secret carries the new CA');
    // cainjector merges (CAInjectorMerging, GA, on by default): new CA appended, old kept until it
    // expires, so pods still serving a certificate of the old CA stay trusted meanwhile.
    await waitFor('cainjector to add the new CA to both caBundles', () => caBundles().every((b) => decode(b).includes(r.newCa.trim())), 60_000);
    for (const b of caBundles()) {
      const pem = decode(b);
      assert.ok(pem.includes(r.oldCa.trim()), 'the old CA stays in caBundle until it expires');
      assert.equal(pem.match(/BEGIN CERTIFICATE/g)?.length, 2, 'caBundle = old CA + new CA');
    }
  });
});
