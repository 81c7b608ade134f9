// `mtls-guard certs` end to end: the built binary writes the files, then a real HTTPS server
// serves them to a client that trusts only ca.crt, as the API server would call the webhook.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertBuilt, expectStatus, run, type Run } from './run.js';

let tmp: string;
let out: string;
let first: Run;

before(() => {
  assertBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'mtls-guard-certs-'));
  out = join(tmp, 'nested', 'certs');
  first = run(['certs', '--service', 'hook', '--namespace', 'mesh', '--out', out, '--dns', 'localhost', '--ip', '127.0.0.1']);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string): string {
  return readFileSync(join(out, name), 'utf8');
}

/** GET / over HTTPS against a server using the written tls.crt / tls.key. */
async function handshake(servername: string): Promise<string> {
  const server = createServer({ cert: file('tls.crt'), key: file('tls.key'), minVersion: 'TLSv1.2' }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, servername, ca: file('ca.crt'), agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('mtls-guard certs', () => {
  test('writes the four files into a created folder and says so', () => {
    expectStatus(first, 0);
    for (const name of ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']) assert.match(first.stdout, new RegExp(`wrote ${join(out, name).replace(/[.]/g, '\\.')}`));
  });

  test('keys are 0600, certificates 0644', () => {
    assert.equal(statSync(join(out, 'ca.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(out, 'tls.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(out, 'ca.crt')).mode & 0o777, 0o644);
    assert.equal(statSync(join(out, 'tls.crt')).mode & 0o777, 0o644);
  });

  test('SANs are the Service names plus --dns and --ip', () => {
    assert.equal(
      new X509Certificate(file('tls.crt')).subjectAltName,
      'DNS:hook, DNS:hook.mesh, DNS:hook.mesh.svc, DNS:hook.mesh.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1',
    );
  });

  test('the serving certificate chains to ca.crt', () => {
    const cert = new X509Certificate(file('tls.crt'));
    const ca = new X509Certificate(file('ca.crt'));
    assert.ok(ca.ca);
    assert.ok(cert.checkIssued(ca));
    assert.ok(cert.verify(ca.publicKey));
  });

  test('prints the caBundle: base64 of ca.crt', () => {
    const line = /^\s*caBundle: (\S+)$/m.exec(first.stdout);
    assert.ok(line, first.stdout);
    assert.equal(Buffer.from(line[1] as string, 'base64').toString('utf8'), file('ca.crt'));
  });

  test('an HTTPS server with tls.crt/tls.key answers a client that trusts only ca.crt, by Service name', async () => {
    assert.equal(await handshake('hook.mesh.svc'), 'ok');
    assert.equal(await handshake('hook.mesh.svc.cluster.local'), 'ok');
  });

  test('a name outside the SANs is rejected by the client', async () => {
    await assert.rejects(handshake('other.mesh.svc'), (err: NodeJS.ErrnoException) => err.code === 'ERR_TLS_CERT_ALTNAME_INVALID');
  });

  test('existing files are kept unless --force', () => {
    const before = file('ca.crt');
    const refused = run(['certs', '--service', 'hook', '--namespace', 'mesh', '--out', out]);
    expectStatus(refused, 2);
    assert.match(refused.stderr, /already exist; use --force to overwrite/);
    assert.equal(file('ca.crt'), before);
    const forced = run(['certs', '--service', 'hook', '--namespace', 'mesh', '--out', out, '--force']);
    expectStatus(forced, 0);
    assert.notEqual(file('ca.crt'), before);
    assert.equal(statSync(join(out, 'tls.key')).mode & 0o777, 0o600);
  });

  test('usage errors exit 2 with a clear message', () => {
    const blocker = join(tmp, 'a-file');
    writeFileSync(blocker, 'not a folder');
    const cases: [string[], RegExp][] = [
      [['certs', '--namespace', 'mesh', '--out', tmp], /--service is required/],
      [['certs', '--service', 'hook', '--out', tmp], /--namespace is required/],
      [['certs', '--service', 'hook', '--namespace', 'mesh', '--out', join(blocker, 'sub')], /--out .*a-file\/sub: cannot create folder/],
      [['certs', '--service', 'hook', '--namespace', 'mesh', '--out', tmp, '--ip', 'localhost'], /--ip localhost: not an IPv4 or IPv6 address/],
      [['certs', '--service', 'hook', '--namespace', 'mesh', '--out', tmp, '--days', 'ten'], /--days ten: must be a whole number/],
      [['certs', '--service', 'Hook_1', '--namespace', 'mesh', '--out', tmp], /--service Hook_1: not a valid Service name/],
    ];
    for (const [args, pattern] of cases) {
      const r = run(args);
      expectStatus(r, 2);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    }
  });
});
