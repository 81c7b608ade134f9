// The floor for Node on this machine: a bare node:https server that reads the body,
// JSON.parses it and answers a fixed allowed AdmissionReview (echoing the uid, which the API
// server requires). Same TLS material and keep-alive settings as mtls-guard, no framework, no
// logging, no policy. Prints {"port":N} on stdout once listening. `GET /stats` answers
// {"reviews":N}, the AdmissionReviews answered so far (bench:apiserver checks with it that the API
// server calls this server when it is registered as the floor webhook).
//
//   node --import tsx bench/baseline-server.ts --cert tls.crt --key tls.key [--port 0]
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
if (!values.cert || !values.key) {
  process.stderr.write('usage: baseline-server --cert FILE --key FILE [--port N] [--host ADDR]\n');
  process.exit(2);
}

const LIMIT = 8 * 1024 * 1024;
let reviews = 0;

const server = createServer({ cert: readFileSync(values.cert), key: readFileSync(values.key), minVersion: 'TLSv1.2' }, (req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reviews }));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= LIMIT) chunks.push(chunk);
  });
  req.on('end', () => {
    let uid: string;
    try {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { uid?: unknown } };
      uid = typeof review.request?.uid === 'string' ? review.request.uid : '';
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad json"}');
      return;
    }
    reviews++;
    const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});
server.keepAliveTimeout = 120_000;
server.listen(Number(values.port), values.host, () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
