// The generated large mesh (bench/mesh-snapshot.ts, the mesh-model bench's) put into the bench's
// kube-apiserver, and the objects whose admission bench:apiserver's cluster mode times on it.
import type { Agent } from 'node:https';
import { Agent as HttpsAgent } from 'node:https';
import { apiRequest, collectionPath, type Cluster } from './apiserver-kube.js';
import { destinationRuleObject, meshObjects, peerAuthenticationObject, type KubeObject, type MeshPlan } from './mesh-snapshot.js';
import { sleep } from './processes.js';

/** What loading took and what it created, per kind. */
export interface LoadResult {
  objects: number;
  byKind: Record<string, number>;
  seconds: number;
  concurrency: number;
  /** Answers retried (429 Too Many Requests, 5xx, connection errors). */
  retries: number;
}

const RETRYABLE = (status: number): boolean => status === 429 || status >= 500;

async function createOne(cluster: Cluster, agent: Agent, o: KubeObject, stats: { retries: number }): Promise<void> {
  const path = `${collectionPath(o.apiVersion, o.kind, o.metadata.namespace)}?fieldManager=bench-loader`;
  const body = JSON.stringify(o.kind === 'Service' ? { ...o, spec: { ...o.spec, clusterIP: 'None' } } : o);
  for (let attempt = 0; ; attempt++) {
    let status = 0;
    let text: string;
    try {
      const r = await apiRequest(cluster, 'POST', path, body, agent);
      status = r.status;
      text = r.body;
    } catch (err) {
      text = err instanceof Error ? err.message : String(err);
    }
    // 409: created by an earlier attempt whose answer was lost; the object is there.
    if (status === 201 || status === 409) return;
    if ((status === 0 || RETRYABLE(status)) && attempt < 8) {
      stats.retries++;
      await sleep(100 * 2 ** Math.min(attempt, 5));
      continue;
    }
    throw new Error(`creating ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}: ${status} ${text.slice(0, 400)}`);
  }
}

/**
 * Creates every object of `plan` through the API server: the Namespaces first (everything else
 * lives in them), then the rest with at most `concurrency` creates in flight, each on its own
 * kept-alive connection. Fails on the first answer that is neither 201 nor 409 after retries.
 *
 * Services are created headless (`clusterIP: None`): kube-apiserver allocates each cluster IP
 * by creating an IPAddress object through its own rate-limited loopback client, about 10 Services
 * a second here (17 minutes for the mesh's 10,000, and allocation errors under load), while
 * mtls-guard reads no cluster IP (its slim Service keeps the selector and ports).
 */
export async function loadMesh(cluster: Cluster, plan: MeshPlan, concurrency: number, progress: (msg: string) => void): Promise<LoadResult> {
  const started = performance.now();
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: concurrency, ...cluster.tls });
  const stats = { retries: 0 };
  const byKind: Record<string, number> = {};
  const all = [...meshObjects(plan)];
  const namespaces = all.filter((o) => o.kind === 'Namespace');
  const rest = all.filter((o) => o.kind !== 'Namespace');
  const runAll = async (objects: KubeObject[]): Promise<void> => {
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < objects.length; i = next++) {
        const o = objects[i] as KubeObject;
        await createOne(cluster, agent, o, stats);
        byKind[o.kind] = (byKind[o.kind] ?? 0) + 1;
        if (++done % 5000 === 0) progress(`${done} of ${objects.length} created (${Math.round((performance.now() - started) / 1000)} s)`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, objects.length) }, worker));
  };
  try {
    await runAll(namespaces);
    await runAll(rest);
  } finally {
    agent.destroy();
  }
  return { objects: all.length, byKind, seconds: Math.round((performance.now() - started) / 100) / 10, concurrency, retries: stats.retries };
}

/** The objects the cluster-mode measurement creates (server-side dry-run), named by sequence number. */
export interface MeshAdmissions {
  /** A DestinationRule ISTIO_MUTUAL for a Service in a STRICT sidecar namespace: admitted. */
  destinationRule: (seq: number) => KubeObject;
  /** A namespace-wide PeerAuthentication STRICT in a sidecar namespace without one: admitted (maybe with warnings). */
  peerAuthentication: (seq: number) => KubeObject;
  /** A DestinationRule DISABLE for that same Service: refused, by destinationrule-strict-conflict only in cluster mode. */
  conflicting: KubeObject;
  describe: { destinationRule: string; peerAuthentication: string };
}

/**
 * Picks the objects as bench/mesh.ts's "Added cost per admission" does: the DR targets a Service
 * in a STRICT sidecar namespace that no rule names yet, on a workload without a policy of its own
 * (so a DISABLE rule there is the 503 the mesh rule refuses); the PeerAuthentication is
 * namespace-wide in a sidecar namespace with none (the costly PA shape in that bench).
 */
export function meshAdmissions(plan: MeshPlan): MeshAdmissions {
  const nsPa = new Map(plan.peerAuthentications.filter((p) => p.level === 'namespace').map((p) => [p.namespace, p]));
  const dataPlane = new Map(plan.namespaces.map((n) => [n.name, n.dataPlane]));
  const strictNs = (ns: string): boolean => dataPlane.get(ns) === 'sidecar' && (nsPa.get(ns)?.mode ?? 'STRICT') === 'STRICT';
  const ruled = new Set(plan.destinationRules.map((d) => d.service));
  const wildcarded = new Set(plan.destinationRules.filter((d) => d.hostForm === 'wildcard').map((d) => d.host.split('.')[1]));
  const ownPolicy = new Set(plan.peerAuthentications.map((p) => p.workload));
  const target =
    plan.services.find((s, i) => strictNs(s.namespace) && !ruled.has(i) && !wildcarded.has(s.namespace) && !ownPolicy.has(s.workload) && plan.workloads[s.workload]?.inject !== 'false') ?? plan.services[0];
  const bare = plan.namespaces.find((n) => !nsPa.has(n.name) && n.dataPlane === 'sidecar') ?? plan.namespaces.at(-1);
  if (!target || !bare) throw new Error('meshAdmissions: the mesh has no Service or no namespace');
  const dr = (name: string, tls: 'ISTIO_MUTUAL' | 'DISABLE'): KubeObject => destinationRuleObject({ namespace: target.namespace, name, host: target.name, hostForm: 'short', service: -1, tls, subsets: [], portLevel: [] });
  return {
    destinationRule: (seq) => dr(`bench-${seq}`, 'ISTIO_MUTUAL'),
    peerAuthentication: (seq) => peerAuthenticationObject({ namespace: bare.name, name: `bench-${seq}`, level: 'namespace', mode: 'STRICT', portLevel: [], workload: -1 }),
    conflicting: dr('bench-plaintext', 'DISABLE'),
    describe: {
      destinationRule: `DestinationRule ISTIO_MUTUAL, host ${target.name} (${target.namespace}, STRICT sidecar namespace)`,
      peerAuthentication: `PeerAuthentication STRICT, namespace-wide (${bare.name}, none before)`,
    },
  };
}
