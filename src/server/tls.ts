// The HTTPS server for admission. Certificates rotated on disk (cert-manager, OpenShift
// service-ca) are picked up by swapping the server's secure context: new handshakes get the
// new pair, established connections keep theirs, so no request and no keep-alive connection is
// dropped. A pair that does not load, does not match, is outside its validity period or lacks
// the expected name is refused and the previous one stays in force.
import { createServer, type Server } from 'node:https';
import type { RequestListener } from 'node:http';
import type { Logger } from 'pino';
import { answerClientError } from './client-error.js';
import { loadCertificate, nameProblem, tlsPaths, validityProblem, type CertificateInfo, type TlsFiles } from './certificate.js';
import { readSnapshot, watchFiles, type FileWatchOptions } from './file-watch.js';

// The API server reuses webhook connections for up to 90 s: stay open longer than that so it
// never sends on a connection we are closing.
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;
// Bounds a slow or stuck client for the whole request, headers and 8 MiB body included.
export const REQUEST_TIMEOUT_MS = 30_000;
// Node ≥ 18 starts this clock at a request's first byte, so idle keep-alive time does not count
// against it (and Node refuses headersTimeout > requestTimeout).
export const HEADERS_TIMEOUT_MS = 10_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsServerOptions extends TlsFiles {
  logger: Logger;
  watch?: FileWatchOptions;
  /** Told about every certificate in force: at start and after each successful reload. */
  onCertificate?: (info: CertificateInfo) => void;
  onReload?: (result: 'success' | 'error') => void;
  /** The name the API server dials (the Service's DNS name): a certificate without it is refused.
   * Without it the server cannot know that name; the SANs are logged for a person to check. */
  expectedName?: string;
}

export interface TlsServer {
  server: Server;
  certificate(): CertificateInfo;
  /** Re-reads the files now (SIGHUP), even when unchanged, and applies them like a change. */
  reload(): Promise<void>;
  /** Stops watching the files; closing the server is the caller's. */
  stopWatching(): void;
}

export type TlsServerResult = { ok: true; tls: TlsServer } | { ok: false; error: string };

/**
 * The HTTPS server for admission: TLS 1.2 minimum, the certificate served through a secure
 * context swapped on reload (cert-manager / service-ca rotation) so established connections
 * keep theirs and new ones get the new pair, optional client-CA verification, a 10 s handshake
 * timeout. The files are watched; an unusable new pair (unreadable, mismatched key, expired, not
 * yet valid, or not naming `expectedName`) is refused and the old one stays.
 * @returns the server (not listening yet) and its certificate controls, or an error naming the
 *   file when the first pair cannot be used. Never throws for bad files.
 */
export async function createTlsServer(app: RequestListener, options: TlsServerOptions): Promise<TlsServerResult> {
  const { logger } = options;
  const files: TlsFiles = { certFile: options.certFile, keyFile: options.keyFile };
  if (options.clientCaFile !== undefined) files.clientCaFile = options.clientCaFile;
  const paths = tlsPaths(files);
  const initial = await readSnapshot(paths);
  const first = loadCertificate(files, initial);
  if (!first.ok) return first;
  const wrongName = nameProblem(first.info, options.expectedName);
  if (wrongName) return { ok: false, error: `${files.certFile}: ${wrongName}` };
  let current = first.info;

  const clientAuth = files.clientCaFile !== undefined;
  const server = createServer(
    {
      ...first.context,
      requestCert: clientAuth,
      rejectUnauthorized: clientAuth,
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      // Node enforces headersTimeout and requestTimeout only when it sweeps connections, every
      // 30 s by default; a slow client then held a socket for up to 30 s past its deadline.
      connectionsCheckingInterval: 1_000,
    },
    app,
  );
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.on('clientError', answerClientError(logger));
  server.on('tlsClientError', (err, socket) => {
    // Scanners and TCP probes fail handshakes all day; a refused client certificate matters more.
    const level = clientAuth && /certificate/i.test(err.message) ? 'warn' : 'debug';
    logger[level]({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
  });

  const describe = (info: CertificateInfo) => ({
    serial: info.serialNumber,
    subject: info.subject,
    subjectAltNames: info.subjectAltNames,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
  });
  logger.info({ ...describe(current), certFile: files.certFile, clientCa: files.clientCaFile, expectedName: options.expectedName ?? null }, 'serving certificate loaded');
  // Served all the same: there is no other pair to serve, and the files may be renewed any
  // moment (then the reload applies them). Readiness stays false meanwhile (start.ts).
  const startProblem = validityProblem(current, new Date());
  if (startProblem) logger.error({ ...describe(current), problem: startProblem }, 'serving certificate is not valid now: not ready until a valid pair is loaded');
  options.onCertificate?.(current);

  const watch = watchFiles(
    paths,
    initial,
    (snapshot) => {
      const next = loadCertificate(files, snapshot);
      if (!next.ok) {
        logger.error({ error: next.error, serial: current.serialNumber }, 'new certificate files refused: the previous certificate stays in force');
        options.onReload?.('error');
        return;
      }
      const problem = validityProblem(next.info, new Date()) ?? nameProblem(next.info, options.expectedName);
      if (problem) {
        logger.error({ error: problem, refused: describe(next.info), serial: current.serialNumber }, 'new certificate refused: the previous certificate stays in force');
        options.onReload?.('error');
        return;
      }
      try {
        server.setSecureContext(next.context);
      } catch (err) {
        logger.error({ err, serial: current.serialNumber }, 'new certificate refused by TLS: the previous certificate stays in force');
        options.onReload?.('error');
        return;
      }
      current = next.info;
      logger.info(describe(current), 'serving certificate reloaded');
      options.onReload?.('success');
      options.onCertificate?.(current);
    },
    options.watch,
  );

  return { ok: true, tls: { server, certificate: () => current, reload: () => watch.reload(), stopWatching: () => watch.close() } };
}
