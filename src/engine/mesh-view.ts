// The engine's contract with the mesh model: what a mesh-aware rule may ask about the objects
// around the one being admitted. The engine declares the questions and the shape of the answers;
// src/mesh/ answers them (from manifests given to `check`/`scan`, or from the cluster), so the
// engine stays pure and never imports the model. Vocabulary follows Istio: a *server port* is a
// workload's container port and the PeerAuthentication mode in force there; a *flow* is what
// clients in some namespaces send to one Service port (one subset) and what the server does
// with it.

/** An object the model knows, as messages name it: `PeerAuthentication istio-system/default`. */
export interface MeshObjectRef {
  /** Kubernetes kind, e.g. `PeerAuthentication`, `Deployment`, `Service`, `ServiceEntry`. */
  kind: string;
  /** Empty for cluster-scoped objects. */
  namespace: string;
  name: string;
}

/** A setting and where it was read: the object and the dotted field path. */
export interface SettingSource {
  ref: MeshObjectRef;
  /** e.g. `spec.mtls.mode`, `spec.portLevelMtls.9080.mode`, `spec.trafficPolicy.tls.mode`. */
  path: string;
}

/** The PeerAuthentication mode in force on a server port after inheritance (never UNSET). */
export type ServerMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

/** What a workload's container port accepts, and why. */
export interface ServerPort {
  /** The workload (the object with the pod template), e.g. `Deployment bookinfo/details-v1`. */
  workload: MeshObjectRef;
  /** Container port number (PeerAuthentication `portLevelMtls` keys are these). */
  port: number;
  /** The mode in force. Without a sidecar this is what Istio would apply once one is injected;
   * `sidecar` says whether anything enforces it. */
  mode: ServerMode;
  /** The PeerAuthentication field that set the mode; absent when nothing did (Istio's default,
   * PERMISSIVE). */
  setBy?: SettingSource;
  /** False when pods from this template get no sidecar (they accept plaintext, refuse Istio mTLS). */
  sidecar: boolean;
  /** True when `sidecar` is a guess: the template leaves injection to its namespace and the
   * snapshot does not hold that Namespace. Rules never deny on it. */
  sidecarAssumed?: boolean;
  /** True in an ambient namespace (`istio.io/dataplane-mode=ambient`): ztunnel reads DISABLE as
   * PERMISSIVE and DestinationRule TLS applies only through waypoints. */
  ambient: boolean;
}

/** The TLS a client sidecar originates: a DestinationRule mode, or `AUTO` when no `tls` block is
 * in force (Istio's auto mTLS: Istio mTLS to sidecars that accept it, plaintext otherwise). */
export type ClientTls = 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL' | 'AUTO';

/** What happens to a call: Istio mTLS, plaintext, TLS the application originates (SIMPLE/MUTUAL),
 * refused by the server side (the 503), or not known from the snapshot. */
export type FlowOutcome = 'mtls' | 'plaintext' | 'tls' | 'broken' | 'unknown';

/** The clients a flow is about: sidecar workloads, now or later, in these namespaces of the
 * snapshot (every namespace an object lives in or exports to, whether or not it has workloads
 * yet) and, when `otherNamespaces`, in every namespace not in the snapshot and without its own
 * rule for the host; narrowed to `workloadSelector` when a DestinationRule with one decides. */
export interface ClientGroup {
  namespaces: string[];
  otherNamespaces: boolean;
  workloadSelector?: Record<string, string>;
}

/** One client group calling one Service port (one subset), and one server port behind it. */
export interface Flow {
  clients: ClientGroup;
  /** The host as Istio names the service (FQDN), e.g. `details.bookinfo.svc.cluster.local`. */
  host: string;
  /** The Service or ServiceEntry the host belongs to. */
  service: MeshObjectRef;
  /** The Service port called (DestinationRule `portLevelSettings` keys are these). */
  servicePort: number;
  subset?: string;
  /** The DestinationRule `tls` in force for these clients; absent when none applies. When several
   * DestinationRules of one namespace are merged (Istio's mergeDestinationRule), the one whose
   * setting won. */
  clientTlsFrom?: SettingSource;
  /** Every DestinationRule Istio picked for these clients and this host (merged ones too). */
  destinationRules: MeshObjectRef[];
  clientTls: ClientTls;
  /** The server port reached; absent when the host has no workload in the snapshot (an external
   * ServiceEntry, a Service without matching pods). */
  server?: ServerPort;
  outcome: FlowOutcome;
  /** One sentence: why the outcome is what it is. */
  reason: string;
}

/** A workload port that accepts plaintext while an AuthorizationPolicy on it matches peer
 * identity (`principals`, `namespaces`): plaintext carries none. */
export interface AuthorizationConflict {
  server: ServerPort;
  authorizationPolicy: MeshObjectRef;
  action: 'ALLOW' | 'DENY';
  /** The identity fields it matches, e.g. `spec.rules[0].from[0].source.principals`. */
  paths: string[];
}

/** What a change to one PeerAuthentication does to the mesh. */
export interface PeerAuthenticationEffect {
  /** Flows that work today and would be refused by the server side after the change. */
  newlyBroken: Flow[];
  /** Server ports a sidecar (or ztunnel) is known to enforce that are STRICT before the change
   * and accept plaintext after it (PERMISSIVE or DISABLE, as now in force), in port order. */
  newlyPlaintext: ServerPort[];
  /** Server ports whose mode the changed object sets after the change (after a DELETE: whose
   * mode the deletion changes) and that, then, accept plaintext against an AuthorizationPolicy
   * matching identity, where they did not before. */
  authorizationConflicts: AuthorizationConflict[];
}

/**
 * The questions mesh-aware rules ask, each about the mesh *with the admitted object in place of
 * its stored version* (or without it, for a DELETE). Implemented by src/mesh/; pure and
 * synchronous; never throws for a strange object (it reads as Istio would, or as nothing).
 */
export interface MeshView {
  /**
   * The flows the DestinationRule decides once `object` replaces `namespace/name` (or, with
   * `object` undefined, the flows that lose it after a DELETE: judged with what Istio picks then).
   */
  destinationRuleFlows(object: unknown, namespace: string, name: string): Flow[];
  /**
   * What PeerAuthentication `namespace/name` as `object` changes against the mesh with `previous`
   * in its place: the version it replaces on UPDATE; undefined for a CREATE (compared with the
   * mesh without it). A DELETE passes `object` undefined and the deleted version as `previous`
   * (undefined: the stored one).
   */
  peerAuthenticationEffect(object: unknown, namespace: string, name: string, previous?: unknown): PeerAuthenticationEffect;
  /** The mesh root namespace the model was built with (Istio's `rootNamespace`). */
  readonly rootNamespace: string;
}
