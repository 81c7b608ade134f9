// The certificate generator: what the API server and Node's TLS stack require of a webhook's
// certificates, checked with node:crypto (an independent parser) rather than the generator's own library.
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { before, describe, test } from 'node:test';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { generateCa, generateServing, serviceDnsNames, type Pem } from '../../src/certs/generate.js';

const DAY_MS = 24 * 60 * 60 * 1000;

test('serviceDnsNames: the four names a Service answers to', () => {
  assert.deepEqual(serviceDnsNames('mtls-guard', 'mesh'), ['mtls-guard', 'mtls-guard.mesh', 'mtls-guard.mesh.svc', 'mtls-guard.mesh.svc.cluster.local']);
});

describe('generateCa', () => {
  let ca: Pem;
  before(async () => {
    ca = await generateCa({ commonName: 'test CA', days: 30 });
  });

  test('is a CA with critical basicConstraints and certificate-signing key usage', () => {
    const cert = new X509Certificate(ca.cert);
    assert.equal(cert.ca, true);
    assert.equal(cert.subject, 'CN=test CA');
    assert.equal(cert.issuer, 'CN=test CA');
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    const parsed = new x509.X509Certificate(ca.cert);
    const bc = parsed.getExtension(x509.BasicConstraintsExtension);
    assert.ok(bc?.ca && bc.critical);
    const ku = parsed.getExtension(x509.KeyUsagesExtension);
    assert.equal(ku?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  });

  test('key is PKCS#8 PEM ECDSA P-256 and matches the certificate', () => {
    assert.match(ca.key, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    const key = createPrivateKey(ca.key);
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(new X509Certificate(ca.cert).checkPrivateKey(key));
  });

  test('validity follows days, back-dated a little for clock skew', () => {
    const cert = new X509Certificate(ca.cert);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    assert.ok(from <= Date.now() && from > Date.now() - DAY_MS);
    assert.ok(Math.abs(to - (Date.now() + 30 * DAY_MS)) < 60_000);
  });

  test('rejects a non-positive validity', async () => {
    await assert.rejects(generateCa({ days: 0 }), /days must be a positive number/);
  });
});

describe('generateServing', () => {
  let ca: Pem;
  let serving: Pem;
  before(async () => {
    ca = await generateCa();
    serving = await generateServing(ca, { dnsNames: serviceDnsNames('hook', 'ns'), ipAddresses: ['127.0.0.1', '::1'], days: 10 });
  });

  test('SANs are exactly the DNS names and IPs given', () => {
    const cert = new X509Certificate(serving.cert);
    assert.equal(
      cert.subjectAltName,
      'DNS:hook, DNS:hook.ns, DNS:hook.ns.svc, DNS:hook.ns.svc.cluster.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    assert.equal(cert.subject, 'CN=hook');
    assert.equal(cert.checkHost('hook.ns.svc'), 'hook.ns.svc');
    assert.equal(cert.checkHost('other.ns.svc'), undefined);
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  });

  test('is a leaf for server authentication, signed by the CA', () => {
    const cert = new X509Certificate(serving.cert);
    const caCert = new X509Certificate(ca.cert);
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']); // serverAuth
    assert.equal(cert.issuer, caCert.subject);
    assert.ok(cert.checkIssued(caCert));
    assert.ok(cert.verify(caCert.publicKey));
    const ku = new x509.X509Certificate(serving.cert).getExtension(x509.KeyUsagesExtension);
    assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  });

  test('does not verify against another CA', async () => {
    const other = new X509Certificate((await generateCa()).cert);
    assert.equal(new X509Certificate(serving.cert).verify(other.publicKey), false);
  });

  test('Node TLS accepts the pair', () => {
    assert.doesNotThrow(() => createSecureContext({ cert: serving.cert, key: serving.key, ca: ca.cert }));
    assert.ok(new X509Certificate(serving.cert).checkPrivateKey(createPrivateKey(serving.key)));
  });

  test('serial numbers are random and positive', async () => {
    const again = await generateServing(ca, { dnsNames: ['hook'] });
    const a = new X509Certificate(serving.cert).serialNumber;
    const b = new X509Certificate(again.cert).serialNumber;
    assert.notEqual(a, b);
    for (const s of [a, b]) assert.ok(Number.parseInt(s.slice(0, 2), 16) < 0x80, `serial ${s} would be negative`);
  });

  test('validity follows days', () => {
    const to = Date.parse(new X509Certificate(serving.cert).validTo);
    assert.ok(Math.abs(to - (Date.now() + 10 * DAY_MS)) < 60_000);
  });

  test('rejects bad input', async () => {
    await assert.rejects(generateServing(ca, { dnsNames: [] }), /at least one DNS name or IP address/);
    await assert.rejects(generateServing(ca, { dnsNames: ['a'], ipAddresses: ['300.1.1.1'] }), /not an IP address: 300\.1\.1\.1/);
  });
});
