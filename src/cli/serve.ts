// `mtls-guard serve`: parse and check the flags, make a localhost certificate when none is
// given, start the server, and drain on SIGTERM/SIGINT. Bad flags, unreadable files and an
// invalid policy exit 2 with a message naming the flag or file.
import { existsSync } from 'node:fs';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { TlsFiles } from '../server/certificate.js';
import { EXIT_USAGE } from './exit-codes.js';

interface ServeFlags {
  config?: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  tlsServerName?: string;
  port: string;
  metricsPort: string;
  host: string;
  logLevel: string;
  shutdownGraceSeconds: string;
  /** true: --cluster, false: --no-cluster, undefined: neither (decided from the environment). */
  cluster?: boolean;
  kubeconfig?: string;
  /** false: --no-policy-reports (commander's default for a --no- flag is true). */
  policyReports?: boolean;
}

interface ServeSettings {
  policyFile?: string;
  tls?: TlsFiles;
  /** The name clients (the API server) connect to; a certificate not valid for it is refused. */
  tlsServerName?: string;
  host: string;
  port: number;
  metricsPort: number;
  logLevel: string;
  shutdownGraceMs: number;
  /** Cluster mode, with the kubeconfig file when one was given; policyReports false: not written. */
  cluster?: { kubeconfig?: string; policyReports?: boolean };
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

type Checked<T> = { ok: true; value: T } | { ok: false; errors: string[] };

function parsePort(flag: string, raw: string, errors: string[]): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n > 65535) errors.push(`${flag}: expected a port number 0-65535, got "${raw}"`);
  return n;
}

async function checkReadable(flag: string, file: string | undefined, errors: string[]): Promise<void> {
  if (file === undefined) return;
  try {
    await access(file, constants.R_OK);
  } catch (err) {
    errors.push(`${flag} ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

async function checkFlags(flags: ServeFlags): Promise<Checked<ServeSettings>> {
  const errors: string[] = [];
  const port = parsePort('--port', flags.port, errors);
  const metricsPort = parsePort('--metrics-port', flags.metricsPort, errors);
  if (port !== 0 && port === metricsPort) errors.push(`--port and --metrics-port must differ (both are ${port})`);
  if (!LOG_LEVELS.includes(flags.logLevel)) errors.push(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${flags.logLevel}"`);
  const grace = Number(flags.shutdownGraceSeconds);
  if (flags.shutdownGraceSeconds.trim() === '' || !Number.isFinite(grace) || grace < 0) {
    errors.push(`--shutdown-grace-seconds: expected a number of seconds >= 0, got "${flags.shutdownGraceSeconds}"`);
  }
  if (flags.host.trim() === '') errors.push('--host: must not be empty');
  if (flags.tlsServerName !== undefined && !/^[a-z0-9*]([-a-z0-9.]*[a-z0-9])?$/i.test(flags.tlsServerName)) {
    errors.push(`--tls-server-name: expected a DNS name, got "${flags.tlsServerName}"`);
  }
  if (flags.tlsCert !== undefined && flags.tlsKey === undefined) errors.push('--tls-cert is given without --tls-key: give both, or neither for a self-signed localhost certificate');
  if (flags.tlsKey !== undefined && flags.tlsCert === undefined) errors.push('--tls-key is given without --tls-cert: give both, or neither for a self-signed localhost certificate');
  await checkReadable('--config', flags.config, errors);
  await checkReadable('--tls-cert', flags.tlsCert, errors);
  await checkReadable('--tls-key', flags.tlsKey, errors);
  await checkReadable('--client-ca', flags.clientCa, errors);
  await checkReadable('--kubeconfig', flags.kubeconfig, errors);
  if (flags.cluster === false && flags.kubeconfig !== undefined) errors.push('--kubeconfig is given with --no-cluster: drop one of them');
  if (errors.length) return { ok: false, errors };

  const settings: ServeSettings = { host: flags.host, port, metricsPort, logLevel: flags.logLevel, shutdownGraceMs: grace * 1000 };
  if (flags.config !== undefined) settings.policyFile = flags.config;
  if (flags.tlsServerName !== undefined) settings.tlsServerName = flags.tlsServerName;
  if (flags.cluster ?? (flags.kubeconfig !== undefined || inCluster())) settings.cluster = flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : {};
  if (settings.cluster && flags.policyReports === false) settings.cluster.policyReports = false;
  if (flags.tlsCert !== undefined && flags.tlsKey !== undefined) {
    settings.tls = { certFile: flags.tlsCert, keyFile: flags.tlsKey };
    if (flags.clientCa !== undefined) settings.tls.clientCaFile = flags.clientCa;
  }
  return { ok: true, value: settings };
}

/** In a pod with a ServiceAccount token: the API server is there to watch. */
function inCluster(): boolean {
  return Boolean(process.env['KUBERNETES_SERVICE_HOST']) && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');
}

interface LocalCertificate {
  dir: string;
  caFile: string;
  files: TlsFiles;
}

/** A throwaway CA and localhost certificate, so `npm start` works on a fresh machine. */
async function makeLocalCertificate(serverName: string | undefined): Promise<LocalCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'mtls-guard-'));
  const { generateCa, generateServing } = await import('../certs/generate.js');
  const ca = await generateCa({ commonName: 'mtls-guard local development CA' });
  const serving = await generateServing(ca, { dnsNames: [...new Set(['localhost', ...(serverName ? [serverName] : [])])], ipAddresses: ['127.0.0.1', '::1'] });
  const caFile = join(dir, 'ca.crt');
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  await writeFile(caFile, ca.cert);
  await writeFile(certFile, serving.cert);
  await writeFile(keyFile, serving.key, { mode: 0o600 });
  return { dir, caFile, files: { certFile, keyFile } };
}

async function serve(flags: ServeFlags): Promise<void> {
  // Like the other commands: report and set the exit code, so pending output is flushed.
  const fail = (errors: string[]): void => {
    process.stderr.write(errors.map((e) => `mtls-guard serve: error: ${e}\n`).join(''));
    process.exitCode = EXIT_USAGE;
  };
  const checked = await checkFlags(flags);
  if (!checked.ok) return fail(checked.errors);
  const settings = checked.value;
  // The server's modules (express, pino, prom-client, the X.509 library) load here, when `serve`
  // runs, not when the CLI starts: `check` and `certs` never pay for them.
  const [{ createLogger }, { startServer }] = await Promise.all([import('../server/logger.js'), import('../server/start.js')]);
  const logger: Logger = createLogger(settings.logLevel);

  let local: LocalCertificate | undefined;
  let tls = settings.tls;
  if (tls === undefined) {
    local = await makeLocalCertificate(settings.tlsServerName);
    tls = { ...local.files, ...(flags.clientCa !== undefined && { clientCaFile: flags.clientCa }) };
    const note = `no --tls-cert/--tls-key given: serving a self-signed certificate for localhost, 127.0.0.1 and ::1 (local use only), generated in ${local.dir}; its CA is ${local.caFile}`;
    logger.warn({ dir: local.dir, caFile: local.caFile }, note);
    process.stderr.write(`mtls-guard: ${note}\n`);
  }
  const removeLocal = async (): Promise<void> => {
    if (local) await rm(local.dir, { recursive: true, force: true });
  };

  const started = await startServer({
    tls,
    host: settings.host,
    port: settings.port,
    metricsPort: settings.metricsPort,
    logger,
    shutdownGraceMs: settings.shutdownGraceMs,
    ...(settings.policyFile !== undefined && { policyFile: settings.policyFile }),
    ...(settings.tlsServerName !== undefined && { expectedName: settings.tlsServerName }),
    ...(settings.cluster && { cluster: settings.cluster }),
  });
  if (!started.ok) {
    await removeLocal();
    return fail(started.errors);
  }
  const { server } = started;
  if (local) process.stderr.write(`mtls-guard: try: curl --cacert ${local.caFile} https://localhost:${server.port}/healthz\n`);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // A second Ctrl-C means "now": skip the rest of the grace period.
        logger.warn({ signal }, 'second signal during shutdown: exiting without waiting');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'signal received: draining before exit');
      void server
        .close()
        .then(removeLocal)
        .finally(() => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          resolve();
        });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

export function registerServe(program: Command): Command {
  return program
    .command('serve')
    .description('run the admission webhook: POST /validate and /mutate over HTTPS, metrics over plain HTTP')
    .option('--config <file>', 'policy file (YAML or JSON), watched and reloaded on change; default: the embedded default policy')
    .option('--tls-cert <file>', 'serving certificate (PEM, may include the chain), reloaded when it changes on disk')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM)')
    .option('--client-ca <file>', 'require clients (the API server) to present a certificate signed by this CA (PEM)')
    .option('--tls-server-name <name>', 'the DNS name the API server calls (the Service, <name>.<namespace>.svc): a certificate not valid for it is refused at start and on reload')
    .option('--port <port>', 'HTTPS port for admission requests', '8443')
    .option('--metrics-port <port>', 'plain-HTTP port for /metrics (and /healthz, /readyz)', '9090')
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--shutdown-grace-seconds <seconds>', 'on SIGTERM, how long in-flight requests get to finish', '20')
    .option('--cluster', 'cluster mode: watch the mesh through the API server for the mesh-aware rules (default: on in a pod, or with --kubeconfig)')
    .option('--no-cluster', 'judge each object alone, without watching the cluster')
    .option('--kubeconfig <file>', 'kubeconfig for cluster mode (implies --cluster); default: in-cluster, KUBECONFIG or ~/.kube/config')
    .option('--no-policy-reports', 'in cluster mode, do not write the mesh\'s wgpolicyk8s.io PolicyReports (written by default when their CRDs are served)')
    .addHelpText(
      'after',
      `
Without --tls-cert and --tls-key a self-signed CA and localhost certificate are generated in a
temporary directory (printed at start-up), so a local run needs no setup.
On SIGTERM or SIGINT the server reports not ready, stops accepting connections, lets in-flight
requests finish (up to --shutdown-grace-seconds), then exits 0.
In cluster mode the server lists and watches Namespaces, Services, Deployments, StatefulSets,
DaemonSets and Istio's PeerAuthentications, AuthorizationPolicies, DestinationRules and
ServiceEntries (read-only). Until they are synced, or while a watch fails, the mesh-aware rules
are skipped with a warning and the single-object rules still apply; readiness does not wait.
Exit code 2: a bad flag, an unreadable file or an invalid policy (the message names which).`,
    )
    .action((_opts: unknown, command: Command) => serve(command.opts<ServeFlags>()));
}
