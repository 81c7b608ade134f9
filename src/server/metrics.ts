// Prometheus metrics. Each server gets its own Registry rather than prom-client's global one,
// so several servers (tests, or a future second listener) never collide on metric names.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';

/**
 * Increments of one counter, kept per label combination in a Map keyed by the label values and
 * added to the counter when prom-client collects it (every scrape and every get()), so readers see
 * exact values. On the admission path prom-client's own inc() validates and hashes a fresh labels
 * object per call, which showed in the profile (BENCHMARKS.md). The number of entries is bounded
 * by the label combinations, as prom-client's own series are.
 */
export class Tally<T extends string> {
  private readonly entries = new Map<string, { labels: LabelValues<T>; n: number }>();

  /** `key` must identify the label values; `labels` builds them the first time a key is seen. */
  add(key: string, labels: () => LabelValues<T>): void {
    const entry = this.entries.get(key);
    if (entry) entry.n++;
    else this.entries.set(key, { labels: labels(), n: 1 });
  }

  drainInto(counter: Counter<T>): void {
    for (const entry of this.entries.values()) {
      if (entry.n === 0) continue;
      counter.inc(entry.labels, entry.n);
      entry.n = 0;
    }
  }
}

function tallied<T extends string>(tally: Tally<T>): { collect(this: Counter<T>): void } {
  return {
    collect(this: Counter<T>) {
      tally.drainInto(this);
    },
  };
}

export interface Metrics {
  registry: Registry;
  admissionRequests: Counter<'webhook' | 'kind' | 'operation' | 'decision' | 'mode'>;
  violations: Counter<'rule' | 'action' | 'mode'>;
  admissionDuration: Histogram<'webhook'>;
  mutations: Counter<'mode'>;
  policyReloads: Counter<'result'>;
  certificateReloads: Counter<'result'>;
  certificateExpiry: Gauge;
  /** Cluster mode (cluster-state.ts): 1 when the kind's informer has listed and is watching. */
  informerSynced: Gauge<'kind'>;
  informerErrors: Counter<'kind'>;
  /** Objects of each kind held for the mesh model. */
  meshObjects: Gauge<'kind'>;
  meshStateUnavailable: Counter;
  meshConflicts: Gauge<'rule'>;
  meshPlaintextPorts: Gauge<'namespace'>;
  /** The admission path's increments of the three counters above (with-metrics.ts). */
  tallies: {
    admissionRequests: Tally<'webhook' | 'kind' | 'operation' | 'decision' | 'mode'>;
    violations: Tally<'rule' | 'action' | 'mode'>;
    mutations: Tally<'mode'>;
  };
}

// Evaluation is sub-millisecond; the tail up to 1 s shows body parsing of large UPDATE reviews
// and event-loop stalls. The API server's default webhook timeout is 10 s.
const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export function createMetrics(): Metrics {
  const registry = new Registry();
  // Unprefixed, so the usual process and Node.js dashboards work unchanged.
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const tallies: Metrics['tallies'] = { admissionRequests: new Tally(), violations: new Tally(), mutations: new Tally() };
  return {
    registry,
    tallies,
    admissionRequests: new Counter({
      name: 'mtls_guard_admission_requests_total',
      help: 'Admission reviews answered, by webhook, object kind, operation, decision and effective mode.',
      labelNames: ['webhook', 'kind', 'operation', 'decision', 'mode'],
      registers,
      ...tallied(tallies.admissionRequests),
    }),
    violations: new Counter({
      name: 'mtls_guard_violations_total',
      help: 'Guardrail violations found, by rule id, what was done (deny or warn) and mode.',
      labelNames: ['rule', 'action', 'mode'],
      registers,
      ...tallied(tallies.violations),
    }),
    admissionDuration: new Histogram({
      name: 'mtls_guard_admission_duration_seconds',
      help: 'Time from receiving an admission request to having its decision, body parsing included.',
      labelNames: ['webhook'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    mutations: new Counter({
      name: 'mtls_guard_mutations_total',
      help: 'Objects whose pod template was (enforce) or would have been (audit) annotated.',
      labelNames: ['mode'],
      registers,
      ...tallied(tallies.mutations),
    }),
    policyReloads: new Counter({
      name: 'mtls_guard_policy_reloads_total',
      help: 'Policy file reloads; result="error" means the new policy was refused and the old one kept.',
      labelNames: ['result'],
      registers,
    }),
    certificateReloads: new Counter({
      name: 'mtls_guard_certificate_reloads_total',
      help: 'Serving certificate reloads; result="error" means the new files were refused and the old pair kept.',
      labelNames: ['result'],
      registers,
    }),
    certificateExpiry: new Gauge({
      name: 'mtls_guard_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the serving certificate in use, as a Unix timestamp.',
      registers,
    }),
    informerSynced: new Gauge({
      name: 'mtls_guard_informer_synced',
      help: 'Cluster mode: 1 when the informer of this kind has listed and is watching, 0 before that or while its list or watch fails.',
      labelNames: ['kind'],
      registers,
    }),
    informerErrors: new Counter({
      name: 'mtls_guard_informer_errors_total',
      help: 'Cluster mode: failed lists and watches of this kind (each retried after a back-off); kind="discovery" for the API discovery of the Istio kinds.',
      labelNames: ['kind'],
      registers,
    }),
    meshObjects: new Gauge({
      name: 'mtls_guard_mesh_objects',
      help: 'Cluster mode: objects of this kind held (only the fields the mesh model reads).',
      labelNames: ['kind'],
      registers,
    }),
    meshStateUnavailable: new Counter({
      name: 'mtls_guard_mesh_state_unavailable_total',
      help: 'Cluster mode: validating reviews judged without the mesh (caches not synced, or a watch failing): mesh-aware rules skipped, single-object rules applied.',
      registers,
    }),
    meshConflicts: new Gauge({
      name: 'mtls_guard_mesh_conflicts',
      help: 'Cluster mode: conflicts in the mesh as it stands, by the rule that refuses new ones: destinationrule-strict-conflict counts broken calls (client TLS the server side refuses), peerauthentication-authz-conflict plaintext-accepting ports under AuthorizationPolicies matching identity. Recomputed at most every 10 s after a change.',
      labelNames: ['rule'],
      registers,
    }),
    meshPlaintextPorts: new Gauge({
      name: 'mtls_guard_mesh_plaintext_ports',
      help: 'Cluster mode: workload ports that accept plaintext (mode PERMISSIVE or DISABLE, or no sidecar outside ambient), by namespace. Recomputed at most every 10 s after a change.',
      labelNames: ['namespace'],
      registers,
    }),
  };
}
