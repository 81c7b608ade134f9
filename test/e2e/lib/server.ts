// The local mtls-guard process the API server calls: stop and start it, rewrite its policy file
// and wait for the reload, read its metrics, and check through the API server that it answers.
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { objects, statusMessage, waitFor } from './cluster.js';
import { e2eEnv } from './env.js';

function serverScript(action: 'start' | 'stop', serveArgs: readonly string[] = []): void {
  const env = e2eEnv();
  const r = spawnSync('bash', [join(env.root, 'test', 'e2e', 'webhook-server.sh'), action, env.work], {
    encoding: 'utf8',
    timeout: 40_000,
    env: { ...process.env, E2E_SERVE_ARGS: serveArgs.join(' ') },
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`webhook-server.sh ${action} failed (exit ${String(r.status)}):\n${r.stderr}`);
}

export const stopServer = (): void => serverScript('stop');
/** Starts the server; `serveArgs` are extra `serve` flags (no spaces inside one), e.g. cluster mode's. */
export const startServer = (serveArgs: readonly string[] = []): void => serverScript('start', serveArgs);

/**
 * The server's /metrics text. One connection per call (no keep-alive): a pooled connection the
 * server closes as idle (its 5 s keep-alive timeout) fails the next fetch with "other side closed".
 */
export function metricsText(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port: e2eEnv().metricsPort, path: '/metrics', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET /metrics: HTTP ${String(res.statusCode)}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('GET /metrics: no answer in 10 s')));
    req.on('error', reject);
  });
}

/** Sum of a metric's samples whose labels include `labels` (0 when absent). */
export async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await metricsText();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

export type PolicyDoc = Record<string, unknown>;

export function basePolicy(): PolicyDoc {
  return parse(readFileSync(e2eEnv().basePolicyFile, 'utf8')) as PolicyDoc;
}

/**
 * Replaces the policy file atomically (write beside it, rename over it), as an editor or a
 * ConfigMap update does, and waits until the server reports a successful reload.
 */
export async function writePolicy(policy: PolicyDoc): Promise<void> {
  const file = e2eEnv().policyFile;
  const before = await metric('mtls_guard_policy_reloads_total', { result: 'success' });
  const tmp = join(dirname(file), `.policy-${process.pid}-${Date.now()}.yaml`);
  writeFileSync(tmp, stringify(policy));
  renameSync(tmp, file);
  await waitFor('the server to reload the policy file', async () => (await metric('mtls_guard_policy_reloads_total', { result: 'success' })) > before, 15_000);
}

export async function restoreBasePolicy(): Promise<void> {
  const current = readFileSync(e2eEnv().policyFile, 'utf8');
  if (current === readFileSync(e2eEnv().basePolicyFile, 'utf8')) return;
  await writePolicy(basePolicy());
}

const PROBE_NAMESPACE = 'e2e-probe';

/**
 * True when both webhooks answer through the API server: a DISABLE PeerAuthentication is denied by
 * validate.mtls-guard.io and a Deployment comes back with the sidecar annotations (dry-run: nothing
 * is stored).
 */
export async function webhooksAnswer(): Promise<boolean> {
  const api = objects();
  try {
    await api.create(
      { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'probe', namespace: PROBE_NAMESPACE }, spec: { mtls: { mode: 'DISABLE' } } } as never,
      undefined,
      'All',
    );
    return false;
  } catch (err) {
    if (!statusMessage(err).includes('admission webhook "validate.mtls-guard.io" denied the request')) return false;
  }
  const created = (await api.create(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'probe', namespace: PROBE_NAMESPACE },
      spec: { selector: { matchLabels: { app: 'probe' } }, template: { metadata: { labels: { app: 'probe' } }, spec: { containers: [{ name: 'probe', image: 'probe' }] } } },
    } as never,
    undefined,
    'All',
  )) as { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } };
  return created.spec?.template?.metadata?.annotations?.['sidecar.istio.io/rewriteAppHTTPProbers'] === 'true';
}

export async function waitForWebhooks(timeoutMs = 30_000): Promise<void> {
  await waitFor('both webhooks to answer through the API server', webhooksAnswer, timeoutMs, 300);
}
