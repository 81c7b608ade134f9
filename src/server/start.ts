// Wiring, in one place: policy, metrics, the admission app over TLS, the metrics listener,
// readiness and the drain. Everything it needs is passed in: the server reads no environment
// variables and no argv (the CLI does). The CLI owns SIGTERM/SIGINT (it calls close()); the
// server itself handles SIGHUP while it runs, by re-reading its files, because SIGHUP's default
// action kills the process mid-response and with no log line (`kill -HUP` is the usual
// "reload your configuration" of a daemon).
import type { Server as NetServer, Socket } from 'node:net';
import type { Logger } from 'pino';
import { watchPolicy } from './policy-source.js';
import { createApp } from './app.js';
import type { ClusterOptions, ClusterState } from './cluster-state.js';
import { validityProblem, type CertificateInfo, type TlsFiles } from './certificate.js';
import { trackConnections } from './connections.js';
import type { FileWatchOptions } from './file-watch.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createMetricsServer } from './metrics-server.js';
import { createTlsServer } from './tls.js';
import { errorMessage } from '../util/errors.js';

export const DEFAULT_SHUTDOWN_GRACE_MS = 20_000;
// While draining, a keep-alive connection is ended once it has carried no request for this long.
// A client posting sooner is told `Connection: close` instead. Ending an idle connection races
// with a client writing a review onto it at that moment (kube-apiserver does not retry the POST:
// "failed calling webhook ... EOF"); the API server keeps its pooled connections to a pod after
// the pod left the endpoints and reuses the most recently used one first, so the longer a
// connection has been idle, the less likely it is picked. 1 s lost 2 admissions in 1 roll out
// of 5 under 20 creates/s (test/e2e-node/03-rolling-update); 10 s keeps the race for connections
// the pool has not touched in 10 s, within the chart's 20 s shutdown grace.
export const DEFAULT_DRAIN_IDLE_CLOSE_MS = 10_000;

export interface ServerOptions {
  /** Policy file to load and watch; without one the embedded defaults apply. */
  policyFile?: string;
  tls: TlsFiles;
  host: string;
  port: number;
  metricsPort: number;
  /** Defaults to `host`. */
  metricsHost?: string;
  logger: Logger;
  /** How long in-flight requests get to finish on close() before their connections are cut. */
  shutdownGraceMs?: number;
  /** While draining, how long a keep-alive connection may sit idle before it is ended. */
  drainIdleCloseMs?: number;
  /** Poll period and debounce of the certificate and policy file watches. */
  watch?: FileWatchOptions;
  bodyLimitBytes?: number;
  /** The DNS name the API server dials (Service name): a certificate without it is refused. */
  expectedName?: string;
  /** Signal that re-reads the policy and certificate files; false to leave signals alone. */
  reloadSignal?: NodeJS.Signals | false;
  /** Cluster mode: keep the mesh from the API server for the mesh-aware rules (cluster-state.ts). */
  cluster?: ClusterOptions;
}

export interface RunningServer {
  port: number;
  metricsPort: number;
  metrics: Metrics;
  isReady(): boolean;
  /** Re-reads the policy and certificate files now, even when unchanged (what SIGHUP does). */
  reload(): Promise<void>;
  /** Readiness off, stop accepting, let in-flight requests finish (bounded), then resolve. */
  close(): Promise<void>;
}

export type StartResult = { ok: true; server: RunningServer } | { ok: false; errors: string[] };

type ListenResult = { ok: true; port: number } | { ok: false; error: string };

function listen(server: NetServer, port: number, host: string, what: string): Promise<ListenResult> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      resolve({ ok: false, error: `cannot listen on ${host}:${port} for ${what}: ${err.code ?? err.message}` });
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve({ ok: true, port: typeof address === 'object' && address !== null ? address.port : port });
    });
  });
}

/** Every TCP connection, so the grace period can be enforced even mid-handshake. */
function trackSockets(server: NetServer): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

function closeNow(server: NetServer, sockets: Iterable<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Starts mtls-guard: loads and watches the policy, creates the TLS admission server and the
 * plain-HTTP metrics server, and listens on both (port 0 picks a free port; the result says
 * which). Handles `reloadSignal` (SIGHUP) while running.
 * @returns the running server (ports, readiness, reload, a draining close), or the errors that
 *   stopped the start (invalid or empty policy, unusable certificate, port in use), each naming
 *   its file or port. Never throws for bad input.
 */
export async function startServer(options: ServerOptions): Promise<StartResult> {
  const { logger } = options;
  const graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  const metrics = createMetrics();

  const policy = await watchPolicy(options.policyFile, {
    ...options.watch,
    logger,
    onReload: (result) => metrics.policyReloads.inc({ result }),
  });
  if (!policy.ok) return { ok: false, errors: policy.errors };
  const source = policy.source;

  // Loaded only in cluster mode: @kubernetes/client-node is large, and a server without it starts faster.
  let cluster: ClusterState | undefined;
  if (options.cluster) {
    try {
      const { startClusterState } = await import('./cluster-state.js');
      cluster = startClusterState({ ...options.cluster, getPolicy: source.current, logger, metrics });
    } catch (err) {
      source.close();
      return { ok: false, errors: [`cluster mode: ${errorMessage(err)}`] };
    }
  }

  let state: 'starting' | 'serving' | 'draining' = 'starting';
  // Set once the TLS server exists; read by readiness, which the app needs before that.
  const serving: { certificate?: () => CertificateInfo } = {};
  // A certificate outside its validity period fails every handshake: not ready, and /readyz says why.
  const certificateProblem = (): string | undefined => (serving.certificate ? validityProblem(serving.certificate(), new Date()) : undefined);
  const isReady = (): boolean => state === 'serving' && certificateProblem() === undefined;
  const isDraining = (): boolean => state === 'draining';
  const notReadyReason = (): string =>
    state === 'draining' ? 'shutting down: draining in-flight requests' : state === 'starting' ? 'starting up' : (certificateProblem() ?? 'not ready');
  const readinessDetail = (): Record<string, unknown> => {
    // Shown, never a condition: readiness must not depend on the API server the webhook guards.
    const clusterDetail = cluster ? { cluster: cluster.status() } : {};
    if (!serving.certificate) return clusterDetail;
    const c = serving.certificate();
    return {
      ...clusterDetail,
      certificate: {
        serial: c.serialNumber,
        notBefore: c.notBefore.toISOString(),
        notAfter: c.notAfter.toISOString(),
        secondsToExpiry: Math.floor((c.notAfter.getTime() - Date.now()) / 1000),
      },
    };
  };
  const readiness = { isReady, notReadyReason, readinessDetail };

  const app = createApp({ getPolicy: source.current, logger, metrics, ...readiness, isDraining, bodyLimitBytes: options.bodyLimitBytes, ...(cluster && { mesh: cluster }) });
  const tlsResult = await createTlsServer(app, {
    ...options.tls,
    logger,
    ...(options.watch && { watch: options.watch }),
    ...(options.expectedName !== undefined && { expectedName: options.expectedName }),
    onCertificate: (info) => metrics.certificateExpiry.set(info.notAfter.getTime() / 1000),
    onReload: (result) => metrics.certificateReloads.inc({ result }),
  });
  if (!tlsResult.ok) {
    source.close();
    await cluster?.close();
    return { ok: false, errors: [tlsResult.error] };
  }
  const { tls } = tlsResult;
  serving.certificate = tls.certificate;
  const admissionConnections = trackConnections(tls.server);
  const metricsServer = createMetricsServer({ registry: metrics.registry, logger, ...readiness });
  const metricsSockets = trackSockets(metricsServer);

  const stopAll = async (): Promise<void> => {
    tls.stopWatching();
    source.close();
    await Promise.all([cluster?.close(), admissionConnections.destroyAll(), closeNow(tls.server, []), closeNow(metricsServer, metricsSockets)]);
  };

  const admission = await listen(tls.server, options.port, options.host, 'admission (HTTPS)');
  const scrape = admission.ok ? await listen(metricsServer, options.metricsPort, options.metricsHost ?? options.host, 'metrics (HTTP)') : undefined;
  if (!admission.ok || !scrape?.ok) {
    await stopAll();
    return { ok: false, errors: [admission.ok ? (scrape && !scrape.ok ? scrape.error : 'metrics listener failed') : admission.error] };
  }
  state = 'serving';
  logger.info({ host: options.host, port: admission.port, metricsPort: scrape.port, policyFile: options.policyFile ?? null }, 'mtls-guard is serving');

  const reload = async (): Promise<void> => {
    await Promise.all([source.reload(), tls.reload()]);
  };
  const reloadSignal = options.reloadSignal ?? 'SIGHUP';
  const onReloadSignal = (signal: NodeJS.Signals): void => {
    if (state !== 'serving') {
      logger.info({ signal }, 'signal received while shutting down: ignored');
      return;
    }
    logger.info({ signal }, 'signal received: re-reading the policy and certificate files');
    void reload().then(() =>
      logger.info({ signal, mode: source.current().mode, serial: tls.certificate().serialNumber }, 'policy and certificate files re-read'),
    );
  };
  if (reloadSignal) process.on(reloadSignal, onReloadSignal);

  const drain = async (): Promise<void> => {
    state = 'draining';
    logger.info({ graceMs, connections: admissionConnections.count() }, 'shutting down: readiness off, draining in-flight requests');
    const drained = admissionConnections.drain(options.drainIdleCloseMs ?? DEFAULT_DRAIN_IDLE_CLOSE_MS);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const outcome = await Promise.race([drained.then(() => 'drained' as const), graceOver]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      logger.warn({ graceMs, connections: admissionConnections.count() }, 'grace period over: closing the connections still open');
    }
    await stopAll();
    logger.info('mtls-guard stopped');
    if (reloadSignal) process.off(reloadSignal, onReloadSignal);
  };
  let closing: Promise<void> | undefined;

  return {
    ok: true,
    server: {
      port: admission.port,
      metricsPort: scrape.port,
      metrics,
      isReady,
      reload,
      close: () => (closing ??= drain()),
    },
  };
}
