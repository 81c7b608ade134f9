// Real TLS on loopback: protocol floor, client-certificate mode, and certificate rotation on
// disk while keep-alive traffic flows.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { Agent, request, type RequestOptions } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { connect, createServer as createTlsSocketServer, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { Pem } from '../../src/certs/generate.js';
import type { CertificateInfo } from '../../src/server/certificate.js';
import { createTlsServer, type TlsServer } from '../../src/server/tls.js';
import { clientCert, generateCa, LEVEL, localhostCert, memoryLogger, servingCertFor, silentLogger, tempDir, waitFor, writePem, type LogLine } from './helpers.js';

interface Reply {
  status: number;
  body: string;
  serial: string;
  socket: Socket;
}

function get(port: number, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', ...options }, (res) => {
      // Read now: a keep-alive agent takes the socket back once the body has been read.
      const socket = res.socket as TLSSocket;
      const serial = socket.getPeerCertificate().serialNumber;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), serial, socket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const hello = (_req: unknown, res: { end: (s: string) => void }): void => res.end('hello');

async function listen(tls: TlsServer): Promise<number> {
  await new Promise<void>((resolve) => tls.server.listen(0, '127.0.0.1', resolve));
  const address = tls.server.address();
  assert.ok(address && typeof address === 'object');
  return address.port;
}

async function stop(tls: TlsServer): Promise<void> {
  tls.stopWatching();
  tls.server.closeAllConnections();
  await new Promise<void>((resolve) => tls.server.close(() => resolve()));
}

function serialOf(pem: Pem): string {
  return new X509Certificate(pem.cert).serialNumber;
}

let ca: Pem;
let serving: Pem;
before(async () => {
  ca = await generateCa();
  serving = await localhostCert(ca);
});

describe('protocol floor', () => {
  let tls: TlsServer;
  let port: number;
  let remove: () => Promise<void>;
  before(async () => {
    const tmp = await tempDir();
    remove = tmp.remove;
    const result = await createTlsServer(hello, { ...(await writePem(tmp.dir, 'tls', serving)), logger: silentLogger() });
    assert.ok(result.ok);
    tls = result.tls;
    port = await listen(tls);
  });
  after(async () => {
    await stop(tls);
    await remove();
  });

  // OpenSSL 3 allows TLS 1.1 only at security level 0, so both ends lower it: the refusal must
  // come from the server's minVersion, as the control server shows.
  const tls11 = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;

  function handshake(p: number, options: object): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: p, ca: ca.cert, servername: 'localhost', ...options }, () => {
        resolve(socket.getProtocol() ?? '');
        socket.end();
      });
      socket.on('error', reject);
    });
  }

  test('control: this client can speak TLS 1.1 to a server that allows it', async () => {
    const lax = createTlsSocketServer({ cert: serving.cert, key: serving.key, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
    await new Promise<void>((resolve) => lax.listen(0, '127.0.0.1', resolve));
    const address = lax.address();
    assert.ok(address && typeof address === 'object');
    try {
      assert.equal(await handshake(address.port, tls11), 'TLSv1.1');
    } finally {
      lax.close();
    }
  });

  test('TLS 1.1 is refused', async () => {
    await assert.rejects(handshake(port, tls11), /protocol version|unsupported protocol|wrong version/i);
  });

  test('TLS 1.2 and 1.3 are accepted', async () => {
    assert.equal(await handshake(port, { maxVersion: 'TLSv1.2' }), 'TLSv1.2');
    assert.equal(await handshake(port, {}), 'TLSv1.3');
  });
});

describe('client CA mode', () => {
  let tls: TlsServer;
  let port: number;
  let remove: () => Promise<void>;
  let lines: LogLine[];
  before(async () => {
    const tmp = await tempDir();
    remove = tmp.remove;
    const files = await writePem(tmp.dir, 'tls', serving);
    const clientCaFile = join(tmp.dir, 'client-ca.crt');
    await writeFile(clientCaFile, ca.cert);
    const log = memoryLogger();
    lines = log.lines;
    const result = await createTlsServer(hello, { ...files, clientCaFile, logger: log.logger });
    assert.ok(result.ok);
    tls = result.tls;
    port = await listen(tls);
  });
  after(async () => {
    await stop(tls);
    await remove();
  });

  test('a client without a certificate is rejected', async () => {
    await assert.rejects(get(port, { ca: ca.cert, agent: false }));
    await waitFor('the refused handshake to be logged', () => lines.some((l) => l.msg === 'TLS handshake failed' && l.level === LEVEL.warn));
  });

  test('a client with a certificate from another CA is rejected', async () => {
    const stranger = await clientCert(await generateCa({ commonName: 'someone else' }));
    await assert.rejects(get(port, { ca: ca.cert, cert: stranger.cert, key: stranger.key, agent: false }));
  });

  test('a client with a certificate signed by the CA is served', async () => {
    const apiServer = await clientCert(ca);
    const reply = await get(port, { ca: ca.cert, cert: apiServer.cert, key: apiServer.key, agent: false });
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'hello');
  });
});

/** Kubelet's layout for Secret volumes: files are symlinks through `..data` to a timestamped dir. */
async function kubeletMount(dir: string, pem: Pem, generation: string): Promise<void> {
  const target = join(dir, `..${generation}`);
  await mkdir(target);
  await writeFile(join(target, 'tls.crt'), pem.cert);
  await writeFile(join(target, 'tls.key'), pem.key);
  await symlink(`..${generation}`, join(dir, '..data_tmp'));
  // The atomic step: one rename swaps both files at once.
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
}

async function replaceFile(path: string, content: string): Promise<void> {
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
}

describe('certificate rotation', () => {
  test('a kubelet-style swap under keep-alive load: no failed request, new connections get the new certificate', async () => {
    const { dir, remove } = await tempDir();
    await kubeletMount(dir, serving, '2025_01');
    await symlink('..data/tls.crt', join(dir, 'tls.crt'));
    await symlink('..data/tls.key', join(dir, 'tls.key'));
    const seen: CertificateInfo[] = [];
    const result = await createTlsServer(hello, {
      certFile: join(dir, 'tls.crt'),
      keyFile: join(dir, 'tls.key'),
      logger: silentLogger(),
      watch: { pollMs: 200, debounceMs: 20 },
      onCertificate: (info) => seen.push(info),
    });
    assert.ok(result.ok);
    const tls = result.tls;
    const port = await listen(tls);
    const agent = new Agent({ keepAlive: true, maxSockets: 4, ca: ca.cert });
    const rotated = await localhostCert(ca);
    const [oldSerial, newSerial] = [serialOf(serving), serialOf(rotated)];

    let running = true;
    let rotatedAt = Infinity;
    let failures = 0;
    const served: { at: number; socket: Socket; serial: string }[] = [];
    const worker = async (): Promise<void> => {
      while (running) {
        try {
          const reply = await get(port, { agent });
          assert.equal(reply.status, 200);
          served.push({ at: Date.now(), socket: reply.socket, serial: reply.serial });
        } catch {
          failures++;
        }
      }
    };
    try {
      const workers = [worker(), worker(), worker(), worker()];
      await waitFor('keep-alive traffic before the swap', () => served.length >= 20, 10_000);
      await kubeletMount(dir, rotated, '2025_02');
      await rm(join(dir, '..2025_01'), { recursive: true });
      rotatedAt = Date.now();
      await waitFor('a new connection to see the new certificate', async () => (await get(port, { ca: ca.cert, agent: false })).serial === newSerial, 3000);
      const swappedAt = Date.now();
      await waitFor('keep-alive traffic after the swap', () => served.filter((s) => s.at > swappedAt).length >= 20, 10_000);
      running = false;
      await Promise.all(workers);

      assert.equal(failures, 0, 'no request failed');
      const before = new Set(served.filter((s) => s.at < rotatedAt).map((s) => s.socket));
      const afterSwap = served.filter((s) => s.at > swappedAt);
      assert.ok(afterSwap.length > 0);
      assert.ok(
        afterSwap.some((s) => before.has(s.socket)),
        'keep-alive connections opened before the swap kept serving after it',
      );
      assert.ok(afterSwap.every((s) => !before.has(s.socket) || s.serial === oldSerial), 'established connections keep their certificate');
      assert.equal(tls.certificate().serialNumber, newSerial);
      assert.deepEqual(
        seen.map((s) => s.serialNumber),
        [oldSerial, newSerial],
      );
      assert.equal(seen[1]?.notAfter.getTime(), Date.parse(new X509Certificate(rotated.cert).validTo));
    } finally {
      running = false;
      agent.destroy();
      await stop(tls);
      await remove();
    }
  });

  test('a mismatched or half-written pair is refused and the old certificate stays in force', async () => {
    const { dir, remove } = await tempDir();
    const files = await writePem(dir, 'tls', serving);
    const { logger, lines } = memoryLogger();
    const results: string[] = [];
    const result = await createTlsServer(hello, { ...files, logger, watch: { pollMs: 100, debounceMs: 10 }, onReload: (r) => results.push(r) });
    assert.ok(result.ok);
    const tls = result.tls;
    const port = await listen(tls);
    const fresh = async (): Promise<string> => (await get(port, { ca: ca.cert, agent: false })).serial;
    try {
      const next = await localhostCert(ca);
      // Each state is put in place atomically so that every step is exactly one change.
      // Key first, as a non-atomic writer would: it no longer matches the certificate.
      await replaceFile(files.keyFile, next.key);
      await waitFor('the mismatched pair to be refused', () => results.length === 1);
      assert.deepEqual(results, ['error']);
      assert.equal(await fresh(), serialOf(serving));
      const refusal = lines.find((l) => l.level === LEVEL.error);
      assert.match(String(refusal?.['error']), /does not match the certificate/);

      // Certificate half-written.
      await replaceFile(files.certFile, next.cert.slice(0, next.cert.length / 2));
      await waitFor('the half-written certificate to be refused', () => results.length === 2);
      assert.deepEqual(results, ['error', 'error']);
      assert.equal(await fresh(), serialOf(serving));

      await replaceFile(files.certFile, next.cert);
      await waitFor('the completed pair to load', () => results.length === 3);
      assert.deepEqual(results, ['error', 'error', 'success']);
      assert.equal(await fresh(), serialOf(next));
    } finally {
      await stop(tls);
      await remove();
    }
  });

  test('on reload, an expired, a not-yet-valid or a wrong-name certificate is refused and the old one stays in force', async () => {
    const { dir, remove } = await tempDir();
    const files = await writePem(dir, 'tls', serving);
    const { logger, lines } = memoryLogger();
    const results: string[] = [];
    const seen: CertificateInfo[] = [];
    const result = await createTlsServer(hello, {
      ...files,
      logger,
      expectedName: 'localhost',
      watch: { pollMs: 50, debounceMs: 10, settleMs: 20 },
      onReload: (r) => results.push(r),
      onCertificate: (info) => seen.push(info),
    });
    assert.ok(result.ok);
    const tls = result.tls;
    const port = await listen(tls);
    const fresh = async (): Promise<string> => (await get(port, { ca: ca.cert, agent: false, servername: 'localhost' })).serial;
    const day = 86_400_000;
    const now = Date.now();
    // Same key as the pair in force, so each step is one file and one change.
    const cases: [string, Pem, RegExp][] = [
      ['expired', await servingCertFor(ca, serving.key, { notBefore: new Date(now - 10 * day), notAfter: new Date(now - day) }), /expired at/],
      ['not yet valid', await servingCertFor(ca, serving.key, { notBefore: new Date(now + day), notAfter: new Date(now + 10 * day) }), /not valid until/],
      ['for another name', await servingCertFor(ca, serving.key, { notBefore: new Date(now - day), notAfter: new Date(now + day), dnsNames: ['elsewhere.example'] }), /not valid for localhost/],
    ];
    try {
      for (const [i, [what, pem, problem]] of cases.entries()) {
        await replaceFile(files.certFile, pem.cert);
        await waitFor(`the ${what} certificate to be judged`, () => results.length === i + 1);
        assert.equal(results[i], 'error', `the ${what} certificate is refused`);
        assert.equal(tls.certificate().serialNumber, serialOf(serving));
        assert.equal(await fresh(), serialOf(serving), 'new connections still get the old certificate');
        const refusal = lines.filter((l) => l.level === LEVEL.error).at(-1);
        assert.match(String(refusal?.msg), /new certificate refused/);
        assert.match(String(refusal?.['error']), problem);
      }
      assert.equal(seen.length, 1, 'only the start-up certificate was reported (the expiry metric is unchanged)');
      assert.ok(!lines.some((l) => l.msg === 'serving certificate reloaded'));

      // A valid pair after them all is applied.
      const next = await servingCertFor(ca, serving.key, { notBefore: new Date(now - day), notAfter: new Date(now + 2 * day) });
      await replaceFile(files.certFile, next.cert);
      await waitFor('the valid certificate to load', () => results.length === cases.length + 1);
      assert.equal(results.at(-1), 'success');
      assert.equal(await fresh(), serialOf(next));
      assert.equal(seen.at(-1)?.notAfter.getTime(), Math.floor((now + 2 * day) / 1000) * 1000);
    } finally {
      await stop(tls);
      await remove();
    }
  });

  test('at start, a certificate without the expected name fails; without an expected name its SANs are logged', async () => {
    const { dir, remove } = await tempDir();
    try {
      const files = await writePem(dir, 'tls', serving);
      const wrong = await createTlsServer(hello, { ...files, logger: silentLogger(), expectedName: 'mtls-guard.mtls-guard.svc' });
      assert.equal(wrong.ok, false);
      assert.match(wrong.ok ? '' : wrong.error, /not valid for mtls-guard\.mtls-guard\.svc \(its names: DNS:localhost, IP Address:127\.0\.0\.1\)/);
      const { logger, lines } = memoryLogger();
      const any = await createTlsServer(hello, { ...files, logger });
      assert.ok(any.ok);
      any.tls.stopWatching();
      assert.deepEqual(lines.find((l) => l.msg === 'serving certificate loaded')?.['subjectAltNames'], ['DNS:localhost', 'IP Address:127.0.0.1']);
    } finally {
      await remove();
    }
  });

  test('a start with a bad pair fails with the file named', async () => {
    const { dir, remove } = await tempDir();
    try {
      const other = await localhostCert(ca);
      const files = await writePem(dir, 'tls', { cert: serving.cert, key: other.key });
      const result = await createTlsServer(hello, { ...files, logger: silentLogger() });
      assert.equal(result.ok, false);
      assert.match(result.ok ? '' : result.error, new RegExp(`key file ${files.keyFile} does not match the certificate in ${files.certFile}`));
      const missing = await createTlsServer(hello, { certFile: join(dir, 'nope.crt'), keyFile: files.keyFile, logger: silentLogger() });
      assert.match(missing.ok ? '' : missing.error, /certificate file .*nope\.crt: cannot read: ENOENT/);
    } finally {
      await remove();
    }
  });
});
