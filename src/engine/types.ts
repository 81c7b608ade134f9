// Shared engine types. The engine is pure: these values go in and come out, nothing else.
import type { Operation } from 'fast-json-patch';
import type { RuleId } from './rules/index.js';

export type Mode = 'enforce' | 'audit';
export type Action = 'deny' | 'warn' | 'off';
/** One RFC 6902 JSON Patch operation. */
export type JsonPatchOperation = Operation;

export type { RuleId } from './rules/index.js';
export type { AnnotationSpec, Policy, PolicyFile, WorkloadKind } from './policy-schema.js';
export type { HostAllowEntry, NameAllowEntry, WorkloadAllowEntry } from './allowlists.js';

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
  reach?: string;
}

/** What an object looks like to the allowlist of a rule: the identity and target that allow
 * entries are matched against (not an RBAC subject). */
export interface AllowlistTarget {
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
  /** Rules that threw: a bug, refused in enforce mode and warned about in audit mode. */
  failures: RuleFailure[];
  /** Single-line kubectl warnings, each ≤ 256 characters (violations, audit changes, notices). */
  warnings: string[];
  /** Advice that is not a violation (e.g. a selector Istio ignores); also among the warnings. */
  notices: string[];
  /** Why a refused request is refused: denying violations, or a rule that failed (a bug), with
   * the multi-line message for the person refused. Absent when allowed. */
  refusal?: { cause: 'violations' | 'rule-failure'; message: string };
  /** Patch to return (empty in audit mode or when nothing changes). */
  patch: JsonPatchOperation[];
  /** Annotation changes the mutation planned; reported even in audit mode. */
  mutations: PlannedAnnotation[];
}
