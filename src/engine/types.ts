// Shared engine types. The engine is pure: these values go in and come out, nothing else.
import type { Operation } from 'fast-json-patch';

export type Mode = 'enforce' | 'audit';
export type Action = 'deny' | 'warn' | 'off';
export type Operation6902 = Operation;

export const RULE_IDS = [
  'peerauthentication-disable',
  'destinationrule-disable',
  'destinationrule-insecure-tls',
  'workload-port-exclusion',
  'peerauthentication-permissive',
] as const;
export type RuleId = (typeof RULE_IDS)[number];

export interface WorkloadAllowEntry {
  namespace: string;
  name?: string;
  selector?: Record<string, string>;
  ports?: number[];
  reason?: string;
}
export interface HostAllowEntry {
  host: string;
  namespace?: string;
  ports?: number[];
  reason?: string;
}
export interface NameAllowEntry {
  namespace: string;
  name?: string;
  reason?: string;
}
export type AllowEntry = WorkloadAllowEntry | HostAllowEntry | NameAllowEntry;

export interface RuleSettings<E> {
  action: Action;
  allow: E[];
}

/** An in-house workload kind (policy `workloadKinds`): its pod template is checked and mutated. */
export interface WorkloadKind {
  /** API group, e.g. `example.com` (empty for the core group). */
  group: string;
  kind: string;
  /** Plural resource name, for the webhook configuration's rules (the chart reads it). */
  resource: string;
  /** Dotted key path to the pod template, e.g. `spec.template`. */
  templatePath: string;
}

export interface AnnotationSpec {
  key: string;
  value: string;
  merge?: 'list';
}

/** A fully defaulted policy: every key of DESIGN.md's policy file is present. */
export interface Policy {
  mode: Mode;
  meshRootNamespace: string;
  clusterDomain: string;
  namespaces: { match: string; mode: Mode }[];
  exempt: { users: string[]; groups: string[]; namespaces: string[] };
  rules: {
    'peerauthentication-disable': RuleSettings<WorkloadAllowEntry>;
    'destinationrule-disable': RuleSettings<HostAllowEntry>;
    'destinationrule-insecure-tls': RuleSettings<HostAllowEntry>;
    'workload-port-exclusion': RuleSettings<NameAllowEntry>;
    'peerauthentication-permissive': RuleSettings<WorkloadAllowEntry>;
  };
  mutations: { enabled: boolean; onlyInjected: boolean; annotations: AnnotationSpec[] };
  workloadKinds: WorkloadKind[];
}

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** What the engine judges: built from an AdmissionRequest or from a manifest by the CLI. */
export interface EngineRequest {
  kind: GroupVersionKind;
  operation: AdmissionOperation;
  namespace: string;
  name: string;
  object: unknown;
  oldObject?: unknown;
  user?: { username?: string; groups?: string[] };
}

/** One offending field found by a rule, before actions and modes are applied. */
export interface Finding {
  /** Dotted field path, e.g. spec.portLevelMtls.9080.mode. */
  path: string;
  value: string;
  /** Port number for port-level findings; absent for object- or policy-level ones. */
  port?: number;
  /** Short human description of what the setting applies to. */
  scope: string;
  /** What the setting applies to beyond the field path (port, subset name and labels), so an
   * UPDATE that moves a DISABLE to another port or subset is not taken for a pre-existing one. */
  target?: string;
}

/** What the object looks like to the allowlist of its rule. */
export interface Subject {
  namespace: string;
  name: string;
  /** PeerAuthentication selector.matchLabels; undefined when the policy has none. */
  selector?: Record<string, string>;
  /** DestinationRule host: as written and as Istio resolves it (`resolveHost`). */
  host?: string;
  resolvedHost?: string;
  /** Cluster domain the host was resolved with; allow entries are read the same way. */
  clusterDomain?: string;
}

export interface RuleContext {
  request: EngineRequest;
  policy: Policy;
}

export type ViolationAction = 'deny' | 'warn';

export interface Violation {
  rule: RuleId;
  /** What was done about it after rule action, mode and pre-existing downgrade. */
  action: ViolationAction;
  /** Why a deny became a warn, if it did. */
  downgrade?: 'audit' | 'pre-existing';
  path: string;
  value: string;
  scope: string;
  why: string;
  allowedHere: string[];
  fix: string;
  /** Single line, starts with the rule id, at most 256 characters (a kubectl warning). */
  summary: string;
}

export interface PlannedAnnotation {
  /** Pod-template path as JSON Pointer, e.g. /spec/template. */
  templatePointer: string;
  key: string;
  from?: string;
  to: string;
}

export interface RuleFailure {
  /** Rule id, or `mutation` for the mutation planner. */
  rule: RuleId | 'mutation';
  error: string;
}

export interface Decision {
  allowed: boolean;
  mode: Mode;
  /** Why the request was not judged at all (exempt user, DELETE, unhandled kind...). */
  skipped?: string;
  violations: Violation[];
  /** Rules that threw: a bug, reported as DESIGN.md says. */
  failures: RuleFailure[];
  /** Single-line kubectl warnings, each ≤ 256 characters (violations, audit changes, notices). */
  warnings: string[];
  /** Advice that is not a violation (e.g. a selector Istio ignores); also among the warnings. */
  notices: string[];
  /** Denial (403) or rule failure (500) status for a refused request. */
  status?: { code: number; reason: string; message: string };
  /** Patch to return (empty in audit mode or when nothing changes). */
  patch: Operation6902[];
  /** Annotation changes the mutation planned; reported even in audit mode. */
  mutations: PlannedAnnotation[];
  auditAnnotations: Record<string, string>;
}
