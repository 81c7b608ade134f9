// Requests the HTTP parser refuses get a JSON error body from our clientError listener, not
// Node's bare status line: real TLS, raw bytes, as a broken or hand-rolled client sends them.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { createTlsServer, type TlsServer } from '../../src/server/tls.js';
import { generateCa, LEVEL, localhostCert, memoryLogger, tempDir, writePem, type LogLine } from './helpers.js';
import type { Pem } from '../../src/certs/generate.js';

/** Reads the body before answering, like the admission listener (so the parser runs ahead). */
function echoLength(req: IncomingMessage, res: ServerResponse): void {
  let n = 0;
  req.on('data', (c: Buffer) => (n += c.length));
  req.on('end', () => setImmediate(() => res.end(JSON.stringify({ bytes: n }))));
}

/** Sends `raw` over TLS and returns everything the server wrote until it closed. */
function exchange(port: number, ca: Pem, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port, ca: ca.cert, servername: 'localhost' }, () => socket.write(raw));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
  });
}

/** The last HTTP response in `text`: status code and parsed JSON body. */
function lastResponse(text: string): { status: number; body: unknown } {
  const at = text.lastIndexOf('HTTP/1.1 ');
  const response = text.slice(at);
  const status = Number(response.slice(9, 12));
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  return { status, body: JSON.parse(body) as unknown };
}

describe('requests the HTTP parser refuses', () => {
  let ca: Pem;
  let tls: TlsServer;
  let port: number;
  let lines: LogLine[];
  let remove: () => Promise<void>;
  before(async () => {
    ca = await generateCa();
    const tmp = await tempDir();
    remove = tmp.remove;
    const log = memoryLogger();
    lines = log.lines;
    const result = await createTlsServer(echoLength, { ...(await writePem(tmp.dir, 'tls', await localhostCert(ca))), logger: log.logger });
    assert.ok(result.ok);
    tls = result.tls;
    await new Promise<void>((resolve) => tls.server.listen(0, '127.0.0.1', resolve));
    const address = tls.server.address();
    assert.ok(address && typeof address === 'object');
    port = address.port;
  });
  after(async () => {
    tls.stopWatching();
    tls.server.closeAllConnections();
    await new Promise<void>((resolve) => tls.server.close(() => resolve()));
    await remove();
  });

  test('an HTTP/1.0 POST without Content-Length: a JSON 400 that says what to send', async () => {
    const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    const text = await exchange(port, ca, `POST /validate HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n\r\n${body}`);
    const { status, body: answer } = lastResponse(text);
    assert.equal(status, 400, text);
    assert.match((answer as { error: string }).error, /^malformed HTTP request \(HPE_[A-Z_]+\): send one AdmissionReview per POST, with a Content-Length or a chunked body$/);
    assert.ok(lines.some((l) => l.level === LEVEL.warn && l.msg === 'refused a request the HTTP parser could not read' && l['status'] === 400));
  });

  test('a garbage request line: the same JSON 400', async () => {
    const { status, body } = lastResponse(await exchange(port, ca, 'BREW /pot HTCPCP/1.0\r\n\r\n'));
    assert.equal(status, 400);
    assert.match((body as { error: string }).error, /^malformed HTTP request/);
  });

  test('headers over the limit: 431 with a JSON body', async () => {
    const { status, body } = lastResponse(await exchange(port, ca, `GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    assert.equal(status, 431);
    assert.deepEqual(body, { error: 'request headers too large' });
  });

  test('control: a well-formed request is answered by the app', async () => {
    const text = await exchange(port, ca, 'POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
    assert.deepEqual(lastResponse(text), { status: 200, body: { bytes: 3 } });
  });
});
