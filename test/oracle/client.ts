// Client for the Istio differential oracle (test tooling only; see test/oracle/README.md).
// Spawns the Go binary once and talks to it over stdin/stdout, one JSON object per line.
//
//   const oracle = await Oracle.start();            // builds via scripts/oracle.sh if needed
//   const [a, b] = await oracle.ask([req1, req2]);  // answers in request order
//   await oracle.close();
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const script = resolve(repoRoot, 'scripts/oracle.sh');

// ---- protocol types (mirrors README.md) ----

export type TlsModeName = 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
export type PeerModeName = 'DISABLE' | 'PERMISSIVE' | 'STRICT' | 'UNKNOWN';
/** A Kubernetes-style object: apiVersion/kind optional for clientTLS/peerAuthn, required for validate. */
export type K8sObject = Record<string, unknown>;

export interface ResolveHostRequest {
  op: 'resolveHost';
  host: string;
  namespace: string;
  /** Cluster domain; default "cluster.local". */
  domain?: string;
}
export interface ValidateRequest {
  op: 'validate';
  /** The object as the API server would send it (apiVersion, kind, metadata, spec). */
  object: K8sObject;
  domain?: string;
  operation?: 'CREATE' | 'UPDATE';
}
export interface ClientTlsRequest {
  op: 'clientTLS';
  /** A DestinationRule object, or `spec` alone (then namespace "default"). */
  object?: K8sObject;
  spec?: Record<string, unknown>;
  /** Subset names, "" for the service cluster; default: "" then every subset in the spec. */
  subsets?: string[];
  ports: number[];
  domain?: string;
}
export interface PeerAuthnRequest {
  op: 'peerAuthn';
  /** Mesh root namespace; default "istio-system". */
  rootNamespace?: string;
  /** PeerAuthentication objects; without metadata.creationTimestamp, list order is age order. */
  policies: K8sObject[];
  workload: { namespace: string; labels?: Record<string, string> };
  ports: number[];
}
export interface MeshServicePort {
  name?: string;
  port: number;
  /** A container port number or name; the Service port when absent (Kubernetes' default). */
  targetPort?: number | string;
}
export interface MeshService {
  name: string;
  namespace: string;
  /** Pod labels it selects in its namespace; no endpoints when absent or empty. */
  selector?: Record<string, string>;
  ports: MeshServicePort[];
}
export interface MeshWorkload {
  name: string;
  namespace: string;
  /** Pod labels. */
  labels: Record<string, string>;
  ports: { name?: string; containerPort: number }[];
  /** Whether the pods have a sidecar (the oracle takes this as given). */
  sidecar: boolean;
}
export interface MeshQuery {
  clientNamespace: string;
  /** The client pod's labels (DestinationRule workloadSelector); default none. */
  clientLabels?: Record<string, string>;
  /** FQDN, as Istio names the service: `name.ns.svc.cluster.local`. */
  host: string;
  /** Service port. */
  port: number;
  /** "" for the service's own cluster. */
  subset: string;
}
export interface MeshRequest {
  op: 'mesh';
  rootNamespace?: string;
  domain?: string;
  services: MeshService[];
  workloads: MeshWorkload[];
  /** PeerAuthentication and DestinationRule objects (`kind` required); without
   * metadata.creationTimestamp, list order is age order. */
  configs: K8sObject[];
  queries: MeshQuery[];
}
export type OracleRequest = ResolveHostRequest | ValidateRequest | ClientTlsRequest | PeerAuthnRequest | MeshRequest;

interface Failure {
  ok: false;
  /** request: malformed request; convert: Istio's JSON->proto conversion refused the object; panic: Istio code panicked. */
  stage: 'request' | 'convert' | 'panic';
  error: string;
  /** peerAuthn: index of the policy that failed. */
  policy?: number;
  /** mesh: index of the config that failed. */
  config?: number;
}
export interface ResolveHostAnswer {
  ok: true;
  host: string;
}
export interface ValidateAnswer {
  ok: true;
  /** The webhook's verdict. */
  allowed: boolean;
  /** The webhook's message when refused (e.g. "configuration is invalid: ..."), else null. */
  message: string | null;
  /** Warnings the webhook returns to the API server. */
  warnings: string[];
  /** Where it failed: decode (not JSON / bad metadata), unknownType, convert (spec -> proto), validate, fields (unknown top-level field); null when allowed. */
  stage: 'decode' | 'unknownType' | 'convert' | 'validate' | 'fields' | null;
  /** Istio's strict JSON conversion (config.ApplyJSONStrict, as istioctl validate uses) failed, e.g. an unknown field the webhook's lenient conversion ignored; else null. */
  strictConvertError: string | null;
  /** Individual errors (the validator's multierror split). */
  errors: string[];
  /** Individual warnings from the validator. */
  validationWarnings: string[];
}
export interface ClientTlsResult {
  subset: string;
  port: number;
  /** false when the subset name is not in the spec (Istio builds no such cluster; answer computed as if no subset). */
  subsetDefined: boolean;
  /** A DR-level portLevelSettings entry matched this port. */
  portLevel: boolean;
  /** A subset-level portLevelSettings entry matched this port. */
  subsetPortLevel: boolean;
  /** The tls mode Istio ends up with; null: no tls settings at all (auto mTLS decides). */
  mode: TlsModeName | null;
  insecureSkipVerify: boolean;
  /** The effective ClientTLSSettings as Istio's JSON, or null. */
  tls: Record<string, unknown> | null;
}
export interface ClientTlsAnswer {
  ok: true;
  /** spec.host as Istio resolves it in the object's namespace. */
  host: string;
  results: ClientTlsResult[];
}
export interface PeerAuthnAnswer {
  ok: true;
  /** Workload-level mode after composition (port-independent). */
  mode: PeerModeName;
  /** Istio's per-port map (only ports named in the selected workload policy's portLevelMtls). */
  perPort: Record<string, PeerModeName>;
  ports: { port: number; mode: PeerModeName }[];
  /** "ns/name" of the policies whose namespace and selector apply to the workload (before composition). */
  matched: string[];
  /** Istio's namespace-level mode for the workload namespace (UNKNOWN if no namespace or mesh policy). */
  namespaceMode: PeerModeName;
  /** Each input policy with Istio's validation verdict (invalid ones are still composed, as istiod would if they existed). */
  policies: { name: string; valid: boolean; errors: string[] }[];
}

export interface MeshEndpoint {
  /** "ns/name" of the workload. */
  workload: string;
  /** The container port the Service port reaches. */
  port: number;
  sidecar: boolean;
  /** GetMutualTLSModeForPort on that workload and port. */
  mode: PeerModeName;
}
export interface MeshQueryAnswer {
  /** The host is a service in the client's SidecarScope. */
  visible: boolean;
  /** GetFrom() of SidecarScope.DestinationRule(outbound, proxy, host): "ns/name" of the merged rules, in merge order; [] when none. */
  destinationRules: string[];
  /** The picked (merged) rule's host, or null. */
  drHost: string | null;
  /** false when the query names a subset the picked rule does not define (Istio builds no such cluster). */
  subsetDefined: boolean;
  /** The tls mode of the picked rule for subset x port (GetPortLevelTrafficPolicy + MergeSubsetTrafficPolicy); null: no tls settings (auto mTLS). */
  clientTls: TlsModeName | null;
  /** The Service's endpoints for this port (and subset, when defined) with their server mode. */
  endpoints: MeshEndpoint[];
}
export interface MeshAnswer {
  ok: true;
  /** Every workload x (container port and resolved Service targetPort), with GetMutualTLSModeForPort. */
  serverPorts: MeshEndpoint[];
  /** One answer per query, in order. */
  queries: MeshQueryAnswer[];
  /** Each config with Istio's validation verdict (invalid ones are still used, as istiod would if one got stored). */
  configs: { kind: string; name: string; valid: boolean; errors: string[] }[];
}

type AnswerFor<R> = R extends ResolveHostRequest
  ? ResolveHostAnswer
  : R extends ValidateRequest
    ? ValidateAnswer
    : R extends ClientTlsRequest
      ? ClientTlsAnswer
      : R extends PeerAuthnRequest
        ? PeerAuthnAnswer
        : R extends MeshRequest
          ? MeshAnswer
          : never;
export type OracleAnswer<R extends OracleRequest = OracleRequest> = (AnswerFor<R> | Failure) & { id: number };

/** Path of the oracle binary: $MTLS_GUARD_ORACLE, else scripts/oracle.sh (building unless ifBuilt). */
export function oracleBinary(opts: { ifBuilt?: boolean } = {}): string | undefined {
  const fromEnv = process.env.MTLS_GUARD_ORACLE;
  if (fromEnv) return fromEnv;
  try {
    const out = execFileSync('bash', [script, ...(opts.ifBuilt ? ['--if-built'] : [])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', opts.ifBuilt ? 'ignore' : 'inherit'],
    });
    return out.trim().split('\n').pop() || undefined;
  } catch (err) {
    if (opts.ifBuilt) return undefined;
    throw err;
  }
}

export class Oracle {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (a: OracleAnswer) => void; reject: (e: Error) => void }>();
  private exited: Error | undefined;
  private stderrTail = '';
  private readonly done: Promise<void>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    const rl = createInterface({ input: child.stdout, crlfDelay: Infinity });
    rl.on('line', (line) => this.onLine(line));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
    });
    child.stdin.on('error', () => {
      /* reported through 'exit' */
    });
    this.done = new Promise((resolveDone) => {
      child.on('exit', (code, signal) => {
        this.exited = new Error(`oracle exited (code ${code}, signal ${signal})${this.stderrTail ? `: ${this.stderrTail}` : ''}`);
        for (const p of this.pending.values()) p.reject(this.exited);
        this.pending.clear();
        resolveDone();
      });
    });
  }

  /** Starts the oracle binary (path from oracleBinary() unless given). */
  static async start(binary?: string): Promise<Oracle> {
    const bin = binary ?? oracleBinary();
    if (!bin) throw new Error('oracle binary not found');
    const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((ok, fail) => {
      child.once('spawn', () => ok());
      child.once('error', fail);
    });
    return new Oracle(child);
  }

  /** Sends all requests in one write and resolves with the answers in the same order. */
  async ask<const R extends readonly OracleRequest[]>(requests: R): Promise<{ [K in keyof R]: OracleAnswer<R[K]> }> {
    if (this.exited) throw this.exited;
    const promises: Promise<OracleAnswer>[] = [];
    const lines: string[] = [];
    for (const req of requests) {
      const id = this.nextId++;
      lines.push(JSON.stringify({ ...req, id }));
      promises.push(new Promise((res, rej) => this.pending.set(id, { resolve: res, reject: rej })));
    }
    if (lines.length > 0) this.child.stdin.write(lines.join('\n') + '\n');
    return (await Promise.all(promises)) as { [K in keyof R]: OracleAnswer<R[K]> };
  }

  /** Convenience for one request. */
  async ask1<R extends OracleRequest>(request: R): Promise<OracleAnswer<R>> {
    const [a] = await this.ask([request] as const);
    return a as OracleAnswer<R>;
  }

  /** Closes stdin and waits for the process to exit (kills it after timeoutMs). */
  async close(timeoutMs = 5000): Promise<void> {
    if (!this.exited) {
      this.child.stdin.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.done;
      clearTimeout(timer);
    }
  }

  private onLine(line: string): void {
    let a: OracleAnswer;
    try {
      a = JSON.parse(line) as OracleAnswer;
    } catch {
      this.stderrTail += `\n(unparseable answer: ${line.slice(0, 200)})`;
      return;
    }
    const p = this.pending.get(a.id);
    if (!p) return;
    this.pending.delete(a.id);
    p.resolve(a);
  }
}
