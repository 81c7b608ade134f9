// The mesh gauges, computed from the model as a whole (every server port, every flow). On a
// large mesh that takes seconds of CPU (BENCHMARKS.md, bench:mesh), so cluster-state.ts runs it
// off the request path, only after a change, and at most every 10 s (longer when it was slow).
// When it also writes PolicyReports it builds the scan once and takes the gauges from it
// (scanGauges: the same numbers as meshGauges).
import type { MeshModel } from '../mesh/index.js';
import type { MeshScan } from '../reports/scan-report.js';
import type { Metrics } from './metrics.js';

export interface MeshGauges {
  /** Plaintext-accepting workload ports per namespace (0 for namespaces with workloads and none). */
  plaintextPorts: Map<string, number>;
  conflicts: { 'destinationrule-strict-conflict': number; 'peerauthentication-authz-conflict': number };
}

type GaugeSource = Pick<MeshModel, 'serverPorts' | 'flows' | 'authorizationConflicts'>;

export function meshGauges(model: GaugeSource): MeshGauges {
  const plaintextPorts = new Map<string, number>();
  for (const p of model.serverPorts()) {
    const ns = p.workload.namespace;
    // Without a sidecar nothing enforces the mode (ztunnel does, in an ambient namespace).
    const plaintext = p.mode !== 'STRICT' || (!p.sidecar && !p.ambient);
    plaintextPorts.set(ns, (plaintextPorts.get(ns) ?? 0) + (plaintext ? 1 : 0));
  }
  return {
    plaintextPorts,
    conflicts: {
      'destinationrule-strict-conflict': model.flows().filter((f) => f.outcome === 'broken').length,
      'peerauthentication-authz-conflict': model.authorizationConflicts().length,
    },
  };
}

/** The same gauges as meshGauges, from a scan of the model (scanOf) instead of the model. */
export function scanGauges(scan: MeshScan): MeshGauges {
  const plaintextPorts = new Map<string, number>();
  for (const row of scan.rows) {
    const ns = row.server.workload.namespace;
    plaintextPorts.set(ns, (plaintextPorts.get(ns) ?? 0) + (row.accepts === 'mtls' ? 0 : 1));
  }
  return { plaintextPorts, conflicts: { 'destinationrule-strict-conflict': scan.broken.length, 'peerauthentication-authz-conflict': scan.conflicts.length } };
}

export function setMeshGauges(metrics: Metrics, gauges: MeshGauges): void {
  metrics.meshPlaintextPorts.reset();
  for (const [namespace, n] of gauges.plaintextPorts) metrics.meshPlaintextPorts.set({ namespace }, n);
  for (const [rule, n] of Object.entries(gauges.conflicts)) metrics.meshConflicts.set({ rule }, n);
}
