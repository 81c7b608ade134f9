// Scenario 8: the serving certificate is replaced on disk twice while a bounded loop of requests
// runs through the API server (200 server-side dry-run creates over ~10 s, via client-node):
// first Kubernetes-style (a `..data` symlink swap, as kubelet updates a mounted Secret), then by
// renaming new files over tls.crt and tls.key. No request may fail, and new handshakes must get
// the newest certificate.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { generateServing, serviceDnsNames, type Pem } from '../../src/certs/generate.js';
import { admission, ensureNamespace, objects, statusMessage, templateAnnotations, type KObject } from './lib/cluster.js';
import { e2eEnv } from './lib/env.js';
import { deployment, peerAuthentication, DENIED_PREFIX } from './lib/manifests.js';
import { metric, waitForWebhooks } from './lib/server.js';

const NS = 'e2e-rotation';
const TOTAL = 200;
const SPACING_MS = 50;

interface Outcome {
  i: number;
  ok: boolean;
  detail: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Even: a Deployment that must come back mutated; odd: a PeerAuthentication that must be denied. */
async function request(i: number): Promise<Outcome> {
  try {
    if (i % 2 === 0) {
      const created = (await objects().create(deployment(NS, `load-${i}`) as never, undefined, 'All')) as KObject;
      const ok = templateAnnotations(created)?.['sidecar.istio.io/rewriteAppHTTPProbers'] === 'true';
      return { i, ok, detail: ok ? 'mutated' : `not mutated: ${JSON.stringify(templateAnnotations(created))}` };
    }
    await objects().create(peerAuthentication(NS, `load-${i}`, { mtls: { mode: 'DISABLE' } }) as never, undefined, 'All');
    return { i, ok: false, detail: 'DISABLE PeerAuthentication was allowed' };
  } catch (err) {
    const message = statusMessage(err);
    const ok = i % 2 === 1 && message.includes(`${DENIED_PREFIX}PeerAuthentication ${NS}/load-${i} violates 1 mTLS guardrail`);
    return { i, ok, detail: ok ? 'denied' : message };
  }
}

function servingCertificateSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial.toUpperCase());
    });
    socket.once('error', reject);
  });
}

const serial = (pem: Pem): string => new X509Certificate(pem.cert).serialNumber.toUpperCase();

describe('scenario 8: serving certificate rotated under load', () => {
  before(async () => {
    await ensureNamespace(NS);
    // With Fail, a webhook call that fails is a failed request, so the loop sees it.
    const v = await admission().readValidatingWebhookConfiguration({ name: 'validate.mtls-guard.io' });
    assert.equal(v.webhooks?.[0]?.failurePolicy, 'Fail');
    await waitForWebhooks();
  });

  it(`answers all ${TOTAL} requests while tls.crt/tls.key are replaced twice`, async () => {
    const env = e2eEnv();
    const ca: Pem = { cert: readFileSync(join(env.certsDir, 'ca.crt'), 'utf8'), key: readFileSync(join(env.certsDir, 'ca.key'), 'utf8') };
    const names = [...serviceDnsNames(env.release, env.releaseNamespace), 'localhost'];
    const second = await generateServing(ca, { dnsNames: names, ipAddresses: ['127.0.0.1'], commonName: 'mtls-guard e2e rotation 1' });
    const third = await generateServing(ca, { dnsNames: names, ipAddresses: ['127.0.0.1'], commonName: 'mtls-guard e2e rotation 2' });
    const firstSerial = await servingCertificateSerial(env.webhookPort, ca.cert);
    const reloadsBefore = await metric('mtls_guard_certificate_reloads_total', { result: 'success' });

    const rotatedAt: number[] = [];
    const rotations = (async () => {
      await sleep(3000);
      rotatedAt.push(Date.now());
      // 1. Like kubelet: write a new versioned folder, then atomically repoint `..data`.
      const dir = join(env.tlsDir, '..rotation-1');
      mkdirSync(dir);
      writeFileSync(join(dir, 'tls.crt'), second.cert);
      writeFileSync(join(dir, 'tls.key'), second.key, { mode: 0o600 });
      symlinkSync('..rotation-1', join(env.tlsDir, '..data.tmp'));
      renameSync(join(env.tlsDir, '..data.tmp'), join(env.tlsDir, '..data'));
      await sleep(3500);
      rotatedAt.push(Date.now());
      // 2. Like a script or cert-manager's csi driver: each file replaced by a rename.
      writeFileSync(join(env.tlsDir, '.tls.key.new'), third.key, { mode: 0o600 });
      writeFileSync(join(env.tlsDir, '.tls.crt.new'), third.cert);
      renameSync(join(env.tlsDir, '.tls.key.new'), join(env.tlsDir, 'tls.key'));
      renameSync(join(env.tlsDir, '.tls.crt.new'), join(env.tlsDir, 'tls.crt'));
    })();

    const outcomes = await Promise.all(
      Array.from({ length: TOTAL }, async (_, i) => {
        await sleep(i * SPACING_MS);
        const sentAt = Date.now();
        return { ...(await request(i)), sentAt, doneAt: Date.now() };
      }),
    );
    await rotations;

    assert.deepEqual(outcomes.filter((o) => !o.ok), [], 'failed requests');
    assert.equal(outcomes.filter((o) => o.detail === 'mutated').length, TOTAL / 2);
    assert.equal(outcomes.filter((o) => o.detail === 'denied').length, TOTAL / 2);
    // The load really spanned both rotations: requests were sent before the first and answered
    // after the second (an order of events, not a time bound: a loaded machine only stretches it).
    const [first, last] = [rotatedAt[0] ?? Infinity, rotatedAt[1] ?? -Infinity];
    assert.ok(outcomes.some((o) => o.sentAt < first), 'some requests before the first rotation');
    assert.ok(outcomes.some((o) => o.sentAt > last), 'some requests sent after the second rotation');

    // The server took both certificates, and new handshakes get the newest one.
    assert.ok((await metric('mtls_guard_certificate_reloads_total', { result: 'success' })) >= reloadsBefore + 2);
    assert.notEqual(firstSerial, serial(third));
    assert.equal(await servingCertificateSerial(env.webhookPort, ca.cert), serial(third));
    // And the API server still calls it successfully.
    await waitForWebhooks(10_000);
  });
});
