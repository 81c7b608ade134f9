// CRDs of the add-ons the chart can use (cert-manager, the Prometheus Operator's ServiceMonitor),
// fetched from their pinned Go modules by test/e2e/tools/addon-crds.sh and cached, then applied.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { e2eEnv } from './env.js';
import { kubectl, show } from './tools.js';

export interface AddonCrds {
  dir: string;
  certManager: string;
  serviceMonitor: string;
}

/** Runs addon-crds.sh (downloads on the first run only) and returns the cached manifests. */
export function addonCrds(): AddonCrds {
  const env = e2eEnv();
  const r = spawnSync('bash', [join(env.root, 'test', 'e2e', 'tools', 'addon-crds.sh')], { encoding: 'utf8', timeout: 600_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`addon-crds.sh failed (exit ${String(r.status)}):\n${r.stderr}`);
  const dir = r.stdout.trim().split('\n').pop() ?? '';
  return { dir, certManager: join(dir, 'cert-manager-crds.yaml'), serviceMonitor: join(dir, 'servicemonitor-crd.yaml') };
}

/**
 * Server-side apply (cert-manager's CRDs are too large for client-side apply's annotation) and
 * wait until the API server serves them.
 */
export function installCrds(files: readonly string[], names: readonly string[]): void {
  for (const file of files) {
    const r = kubectl(['apply', '--server-side', '--force-conflicts', '-f', file], { timeoutMs: 120_000 });
    if (r.status !== 0) throw new Error(show(r));
  }
  const w = kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names.map((n) => `crd/${n}`)], { timeoutMs: 90_000 });
  if (w.status !== 0) throw new Error(show(w));
}
