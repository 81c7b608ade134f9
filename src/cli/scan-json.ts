// `scan -o json`: the mesh as one stable JSON document (`kind: MeshScan`) for scripts and jq.
// Every key named in the interfaces below is always present; "none" is `null`, never a missing
// key, so `jq '.flows[] | select(.server == null)'` works. New keys may be added; none removed or
// renamed without a new apiVersion.
import type { AuthorizationConflict, ClientTls, Flow, FlowOutcome, MeshObjectRef, ServerMode, ServerPort, SettingSource } from '../mesh/index.js';
import type { Accepts, MeshScan, Proxy, ScanRow } from '../reports/scan-report.js';

export const MESH_SCAN_API_VERSION = 'mtls-guard.io/v1alpha1';

/** An object: `{kind, namespace, name}`; namespace `""` for cluster-scoped ones. */
export interface RefJson {
  kind: string;
  namespace: string;
  name: string;
}

/** A field of an object: the object and its dotted path, e.g. `spec.portLevelMtls.9080.mode`. */
export interface SettingJson extends RefJson {
  path: string;
}

export interface ClientsJson {
  /** Client namespaces (sidecar workloads there). */
  namespaces: string[];
  /** Also every namespace not in the snapshot and without its own DestinationRule for the host. */
  otherNamespaces: boolean;
  /** Labels a DestinationRule's workloadSelector narrows the clients to; null when none. */
  workloadSelector: Record<string, string> | null;
}

/** A flow reaching a server port, as listed under `serverPorts[].plaintextFrom` / `failingFrom`. */
export interface FlowRefJson {
  clients: ClientsJson;
  host: string;
  servicePort: number;
  subset: string | null;
  clientTls: ClientTls;
  /** The DestinationRule field that set `clientTls`; null when no `tls` applies (auto mTLS). */
  clientTlsFrom: SettingJson | null;
}

export interface ServerPortJson {
  workload: RefJson;
  /** Container port. */
  port: number;
  mode: ServerMode;
  /** The PeerAuthentication field that set `mode`; null for Istio's default (PERMISSIVE). */
  setBy: SettingJson | null;
  sidecar: boolean;
  ambient: boolean;
  /** `mtls`, `mtls+plaintext` or `plaintext`: what the port takes once proxies are accounted for. */
  accepts: Accepts;
  proxy: Proxy;
  plaintextFrom: FlowRefJson[];
  failingFrom: FlowRefJson[];
}

export interface FlowJson extends FlowRefJson {
  /** The Service or ServiceEntry the host belongs to. */
  service: RefJson;
  /** Every DestinationRule Istio picked for these clients and this host. */
  destinationRules: RefJson[];
  /** The workload port reached; null when the snapshot has none behind the host. */
  server: { workload: RefJson; port: number; mode: ServerMode } | null;
  outcome: FlowOutcome;
  reason: string;
}

export interface ConflictJson {
  server: { workload: RefJson; port: number; mode: ServerMode; setBy: SettingJson | null };
  authorizationPolicy: RefJson;
  action: 'ALLOW' | 'DENY';
  /** The identity fields matched, e.g. `spec.rules[0].from[0].source.principals`. */
  paths: string[];
}

export interface SummaryJson {
  namespaces: number;
  workloads: number;
  serverPorts: number;
  plaintextPorts: number;
  flows: { total: number } & Record<FlowOutcome, number>;
  conflicts: number;
  /** Broken flows + conflicts; `scan` exits 1 when this is not 0. */
  findings: number;
}

/** The `-o json` document. Arrays are in the table's order (namespace, workload, port; host, port). */
export interface MeshScanJson {
  apiVersion: typeof MESH_SCAN_API_VERSION;
  kind: 'MeshScan';
  rootNamespace: string;
  serverPorts: ServerPortJson[];
  flows: FlowJson[];
  conflicts: ConflictJson[];
  summary: SummaryJson;
}

function ref(r: MeshObjectRef): RefJson {
  return { kind: r.kind, namespace: r.namespace, name: r.name };
}

function setting(s: SettingSource | undefined): SettingJson | null {
  return s ? { ...ref(s.ref), path: s.path } : null;
}

function flowRef(f: Flow): FlowRefJson {
  const selector = f.clients.workloadSelector;
  return {
    clients: { namespaces: [...f.clients.namespaces], otherNamespaces: f.clients.otherNamespaces, workloadSelector: selector ? { ...selector } : null },
    host: f.host,
    servicePort: f.servicePort,
    subset: f.subset ?? null,
    clientTls: f.clientTls,
    clientTlsFrom: setting(f.clientTlsFrom),
  };
}

function serverPort(row: ScanRow): ServerPortJson {
  const s: ServerPort = row.server;
  return {
    workload: ref(s.workload),
    port: s.port,
    mode: s.mode,
    setBy: setting(s.setBy),
    sidecar: s.sidecar,
    ambient: s.ambient,
    accepts: row.accepts,
    proxy: row.proxy,
    plaintextFrom: row.plaintextFrom.map(flowRef),
    failingFrom: row.failingFrom.map(flowRef),
  };
}

function flow(f: Flow): FlowJson {
  return {
    ...flowRef(f),
    service: ref(f.service),
    destinationRules: f.destinationRules.map(ref),
    server: f.server ? { workload: ref(f.server.workload), port: f.server.port, mode: f.server.mode } : null,
    outcome: f.outcome,
    reason: f.reason,
  };
}

function conflict(c: AuthorizationConflict): ConflictJson {
  return {
    server: { workload: ref(c.server.workload), port: c.server.port, mode: c.server.mode, setBy: setting(c.server.setBy) },
    authorizationPolicy: ref(c.authorizationPolicy),
    action: c.action,
    paths: [...c.paths],
  };
}

/** The scan as the `-o json` document (a plain value; see MeshScanJson for the shape). */
export function toMeshScanJson(scan: MeshScan): MeshScanJson {
  const s = scan.summary;
  return {
    apiVersion: MESH_SCAN_API_VERSION,
    kind: 'MeshScan',
    rootNamespace: scan.rootNamespace,
    serverPorts: scan.rows.map(serverPort),
    flows: scan.flows.map(flow),
    conflicts: scan.conflicts.map(conflict),
    summary: {
      namespaces: s.namespaces,
      workloads: s.workloads,
      serverPorts: s.serverPorts,
      plaintextPorts: s.plaintextPorts,
      flows: { total: s.flows, ...s.outcomes },
      conflicts: s.conflicts,
      findings: s.findings,
    },
  };
}

/** `-o json` output: the document, two-space indented, newline-terminated. */
export function formatScanJson(scan: MeshScan): string {
  return `${JSON.stringify(toMeshScanJson(scan), null, 2)}\n`;
}
