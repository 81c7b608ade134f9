// The server in cluster mode, as the chart runs it: a kubeconfig holding a token of the chart's own
// ServiceAccount (so the chart's read-only ClusterRole is what the informers run with), the server
// restarted with it, and back to the default (single-object) server afterwards. Also a TCP relay to
// the API server that a test can cut, and the metrics that say what the informers hold.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { waitFor } from './cluster.js';
import { e2eEnv } from './env.js';
import { metric, metricsText, restoreBasePolicy, startServer, stopServer, waitForWebhooks } from './server.js';
import { kubectl, show } from './tools.js';

/** The warning every admission gets while the mesh rules are skipped, as kubectl prints it. */
export const UNAVAILABLE = 'Warning: mtls-guard: mesh state unavailable: judged this object alone';

/** Kinds the server always watches here: the built-in ones and the four Istio kinds (CRDs installed by e2e.sh). */
export const BASE_KINDS = ['Namespace', 'Service', 'Deployment', 'StatefulSet', 'DaemonSet', 'PeerAuthentication', 'AuthorizationPolicy', 'DestinationRule', 'ServiceEntry'] as const;

/** The API server of the e2e cluster, from the admin kubeconfig. */
export function apiServer(): { url: URL; caData: string } {
  const admin = parse(readFileSync(e2eEnv().kubeconfig, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[] };
  const cluster = admin.clusters[0]?.cluster;
  assert.ok(cluster, 'the admin kubeconfig names no cluster');
  return { url: new URL(cluster.server), caData: cluster['certificate-authority-data'] };
}

/**
 * Writes WORKDIR/`fileName`: a kubeconfig for the chart's ServiceAccount (a 2 h TokenRequest
 * token) pointing at `server` (default: the API server itself). Mode 600. Returns its path.
 */
export function meshReaderKubeconfig(fileName: string, server?: string): string {
  const env = e2eEnv();
  const token = kubectl(['create', 'token', env.release, '--namespace', env.releaseNamespace, '--duration', '2h']);
  assert.equal(token.status, 0, show(token));
  const { url, caData } = apiServer();
  const file = join(env.work, fileName);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'mesh', cluster: { server: server ?? url.origin, 'certificate-authority-data': caData } }],
      users: [{ name: 'mesh-reader', user: { token: token.stdout.trim() } }],
      contexts: [{ name: 'mesh-reader', context: { cluster: 'mesh', user: 'mesh-reader' } }],
      'current-context': 'mesh-reader',
    }),
    { mode: 0o600 },
  );
  return file;
}

export const objectsOf = (kind: string): Promise<number> => metric('mtls_guard_mesh_objects', { kind });

/** `mtls_guard_informer_synced` per kind (1 synced, 0 listing or failing), from the server's /metrics. */
export async function informers(): Promise<Map<string, number>> {
  const text = await metricsText();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^mtls_guard_informer_synced\{[^}]*kind="([^"]+)"[^}]*\}\s+(\S+)$/gm)) out.set(m[1] ?? '', Number(m[2]));
  return out;
}

/**
 * True when every informer the server runs is synced and the base kinds are among them (the
 * server may watch more: Jobs, CronJobs, CRD-backed workload kinds when served).
 */
export async function allSynced(): Promise<boolean> {
  const kinds = await informers();
  return BASE_KINDS.every((k) => kinds.has(k)) && [...kinds.values()].every((v) => v === 1);
}

/** Waits until the server's caches hold `n` more objects of `kind` than `from` (negative: fewer). */
export async function modelHas(kind: string, from: number, n = 1): Promise<void> {
  const what = n >= 0 ? `${n} more` : `${-n} fewer`;
  await waitFor(`the webhook's model to hold ${what} ${kind}`, async () => (n >= 0 ? (await objectsOf(kind)) >= from + n : (await objectsOf(kind)) <= from + n), 30_000, 200);
}

/** Restarts the server in cluster mode with `kubeconfig` and waits until every informer has synced. */
export async function startClusterMode(kubeconfig: string): Promise<void> {
  stopServer();
  startServer(['--kubeconfig', kubeconfig]);
  await waitForWebhooks();
  await waitFor('every informer to sync, with the ServiceAccount token', allSynced, 60_000, 250);
}

/** Back to the run's default server: the base policy (reloaded while the server runs), single-object mode. */
export async function stopClusterMode(): Promise<void> {
  await restoreBasePolicy();
  stopServer();
  startServer();
  await waitForWebhooks();
}

/**
 * test/e2e/tools/restart-apiserver.sh on the run's work dir: kube-apiserver stopped, down
 * `downSeconds` more, started again with the same flags (etcd keeps every object); resolves once
 * /readyz is ok. Asynchronous, so that this process (a Relay in it) keeps serving meanwhile.
 * Rejects with the script's output when it does not come back within 150 s.
 */
export function restartApiServer(downSeconds = 0): Promise<void> {
  const env = e2eEnv();
  const script = join(env.root, 'test', 'e2e', 'tools', 'restart-apiserver.sh');
  return new Promise((resolve, reject) => {
    execFile('bash', [script, env.work, '--down-seconds', String(downSeconds)], { encoding: 'utf8', timeout: 150_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`restart-apiserver.sh failed (${err.message}):\n${stderr}`));
      else resolve();
    });
  });
}

/**
 * A TCP relay to the API server that can be cut (every connection reset, new ones refused) and
 * restored, or made to refuse new connections only (the ones open keep working).
 */
export class Relay {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private refusing = false;

  constructor(target: { host: string; port: number }) {
    this.server = createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = connect(target.port, target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    assert.ok(address && typeof address === 'object');
    return address.port;
  }

  setCut(cut: boolean): void {
    this.refusing = cut;
    if (cut) for (const s of this.sockets) s.destroy();
  }

  /** Refuses new connections (true) or accepts them again (false); open connections are left alone. */
  refuseNew(refuse: boolean): void {
    this.refusing = refuse;
  }

  async close(): Promise<void> {
    this.setCut(true);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
