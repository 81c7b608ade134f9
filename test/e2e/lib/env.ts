// What scripts/e2e.sh set up, read from the environment it exports. The scenarios only make
// sense against that cluster, so a missing variable is a clear error, not a default.
import { join } from 'node:path';

function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the end-to-end tests with \`npm run e2e\` (scripts/e2e.sh sets up the cluster)`);
  return value;
}

export interface E2eEnv {
  /** Repository root; kubectl and helm run here so printed file names are repo-relative. */
  root: string;
  work: string;
  bin: string;
  kubeconfig: string;
  webhookPort: number;
  metricsPort: number;
  /** The policy file the server watches. */
  policyFile: string;
  /** The policy the run starts with (examples/policy.yaml). */
  basePolicyFile: string;
  /** Folder holding tls.crt / tls.key as `..data` symlinks, like a mounted Secret. */
  tlsDir: string;
  /** ca.crt, ca.key, tls.crt, tls.key from `mtls-guard certs`. */
  certsDir: string;
  auditLog: string;
  release: string;
  releaseNamespace: string;
  /** The values file of `helm install`. */
  helmValues: string;
  chart: string;
}

let cached: E2eEnv | undefined;

export function e2eEnv(): E2eEnv {
  if (cached) return cached;
  const root = need('E2E_ROOT');
  cached = {
    root,
    work: need('E2E_WORK'),
    bin: need('E2E_BIN'),
    kubeconfig: need('KUBECONFIG'),
    webhookPort: Number(need('E2E_WEBHOOK_PORT')),
    metricsPort: Number(need('E2E_METRICS_PORT')),
    policyFile: need('E2E_POLICY'),
    basePolicyFile: need('E2E_BASE_POLICY'),
    tlsDir: need('E2E_TLS_DIR'),
    certsDir: need('E2E_CERTS_DIR'),
    auditLog: need('E2E_AUDIT_LOG'),
    release: need('E2E_RELEASE'),
    releaseNamespace: need('E2E_RELEASE_NAMESPACE'),
    helmValues: need('E2E_HELM_VALUES'),
    chart: join(root, 'charts', 'mtls-guard'),
  };
  return cached;
}
