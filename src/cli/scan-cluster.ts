// `mtls-guard scan --kubeconfig FILE` / `--cluster`: the mesh read from a live cluster instead of
// manifests. The same kinds cluster mode watches (server/cluster-kinds.ts: the built-in ones, and
// Istio's, DeploymentConfig, Rollout and the policy's workloadKinds when API discovery finds them
// served), each listed once in pages of 500 (limit/continue) and reduced to the same slim copies
// the server keeps, so the model, and what `scan` prints from it, are those of cluster mode and of
// an offline scan of the same objects. Failures become messages naming what failed and why:
// the API server not reachable, credentials refused, or the RBAC a kind needs.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiError, ConnectionError, discoverKinds, listSlim } from '../server/cluster-api.js';
import { apiVersionOf, BUILT_IN_KINDS, optionalKinds, withoutNameClashes, type SlimObject, type WatchedKind } from '../server/cluster-kinds.js';
import { loadKubeConfig } from '../server/cluster-state.js';
import type { Policy } from '../engine/index.js';
import { errorMessage } from '../util/errors.js';

/** Where the cluster's credentials come from: a kubeconfig file, else client-node's default search. */
export interface ClusterSource {
  /** `--kubeconfig FILE`; undefined for `--cluster` (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
}

export type ClusterRead = { ok: true; objects: SlimObject[]; kinds: WatchedKind[] } | { ok: false; errors: string[] };

/** Lists of this many kinds run at once (a dozen kinds: a few round trips in all). */
const CONCURRENT_LISTS = 4;

function serverOf(config: KubeConfig): string {
  return config.getCurrentCluster()?.server ?? 'the API server';
}

/** What failed and what to do about it, for a failed discovery (`what` undefined) or list. */
function explain(err: unknown, config: KubeConfig, kind?: WatchedKind): string {
  const server = serverOf(config);
  // The cause's message has no request path, so one unreachable server is one message.
  if (err instanceof ConnectionError) return `cannot reach the API server at ${server}: ${errorMessage(err.cause ?? err)}`;
  const doing = kind ? `cannot list ${kind.plural} (${apiVersionOf(kind)} ${kind.kind})` : 'API discovery (GET /apis) failed';
  if (err instanceof ApiError && err.statusCode === 401) return `${doing}: the API server at ${server} refused the credentials (401 Unauthorized): ${err.message}`;
  if (err instanceof ApiError && err.statusCode === 403) {
    const grant = kind
      ? `the credentials need get and list on ${kind.plural} in API group "${kind.group}" (the chart's ClusterRole <release>-<namespace>-mesh-reader grants them to its ServiceAccount)`
      : 'the credentials need the discovery endpoints (granted to every authenticated user by the system:discovery ClusterRole)';
    return `${doing}: forbidden (403): ${err.message}; ${grant}`;
  }
  return `${doing}: ${errorMessage(err)}`;
}

/** The in-cluster token a pod's ServiceAccount mounts. */
const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Whether client-node's default search finds credentials: KUBECONFIG, ~/.kube/config, or a pod's
 * ServiceAccount. Without any it falls back to http://localhost:8080, which only confuses.
 */
function defaultCredentialsExist(env: NodeJS.ProcessEnv): boolean {
  if (env['KUBECONFIG']) return true;
  if (existsSync(join(env['HOME'] ?? homedir(), '.kube', 'config'))) return true;
  return Boolean(env['KUBERNETES_SERVICE_HOST']) && existsSync(IN_CLUSTER_TOKEN);
}

/** Runs `work` on every item, at most `limit` at once; results in the items' order. */
async function settleAll<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        results[i] = { status: 'fulfilled', value: await work(items[i] as T) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Reads every object the mesh model uses from the cluster, as slim copies.
 * @param policy gives the `workloadKinds` to look for (and nothing else is read from it here).
 * @param config for tests; by default loaded from `source` (loadKubeConfig).
 * @returns the objects and the kinds listed, or every problem found (each kind's failure once;
 *   an unreachable API server once), never a partial mesh.
 */
export async function readCluster(source: ClusterSource, policy: Policy, config?: KubeConfig): Promise<ClusterRead> {
  let kubeConfig: KubeConfig;
  if (!config && source.kubeconfig === undefined && !defaultCredentialsExist(process.env)) {
    return { ok: false, errors: ['--cluster: no credentials found: KUBECONFIG is not set, ~/.kube/config does not exist and this is not a pod with a ServiceAccount token; use --kubeconfig FILE'] };
  }
  try {
    kubeConfig = config ?? loadKubeConfig(source.kubeconfig);
  } catch (err) {
    return { ok: false, errors: [`${source.kubeconfig !== undefined ? `--kubeconfig ${source.kubeconfig}` : '--cluster'}: cannot load the kubeconfig: ${errorMessage(err)}`] };
  }
  let optional: WatchedKind[];
  try {
    optional = withoutNameClashes(await discoverKinds(kubeConfig, optionalKinds(policy.workloadKinds))).kept;
  } catch (err) {
    return { ok: false, errors: [explain(err, kubeConfig)] };
  }
  const kinds = [...BUILT_IN_KINDS, ...optional];
  const results = await settleAll(kinds, CONCURRENT_LISTS, (kind) => listSlim(kubeConfig, kind));
  const errors: string[] = [];
  const objects: SlimObject[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') objects.push(...r.value.items);
    else errors.push(explain(r.reason, kubeConfig, kinds[i]));
  });
  if (errors.length) return { ok: false, errors: [...new Set(errors)] };
  return { ok: true, objects, kinds };
}
