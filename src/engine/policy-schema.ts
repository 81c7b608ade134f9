// The policy file's schema, its defaults and the `Policy` type, in one place: every key, with
// the default it takes when absent (a given key replaces its default wholesale; lists are not
// merged, so an administrator can remove a default entry). Each rule contributes its own
// `rules.<id>` key (rules/index.ts). zod reports the key path of every problem, which is what an
// administrator needs when a ConfigMap edit is refused ("rules.destinationrule-disable.acton").
// The chart's values.schema.json `policy` section is generated from this schema
// (`npm run chart:schema`), and a test keeps the chart's values.yaml equal to the defaults.
import { z } from 'zod';
import { globSchema } from './allowlists.js';
import { RULE_SETTINGS } from './rules/index.js';

const modeSchema = z.enum(['enforce', 'audit']);

const workloadKindSchema = z.strictObject({
  /** API group, e.g. `example.com` (empty for the core group). */
  group: z.string(),
  kind: z.string().min(1, 'must not be empty'),
  /** Plural resource name, for the webhook configurations' rules (the chart reads it). */
  resource: z.string().min(1, 'must not be empty'),
  /** Dotted key path to the pod template, e.g. `spec.template`. */
  templatePath: z.string().regex(/^[^.]+(\.[^.]+)*$/, 'must be a dotted key path to the pod template, e.g. spec.template'),
});

const annotationSchema = z.strictObject({
  key: z.string().min(1),
  value: z.string(),
  /** `list`: comma-separated; add the missing items, keep the user's. */
  merge: z.literal('list').optional(),
});

/** The whole policy file; parsing fills every default (README "Policy file"). */
export const policySchema = z.strictObject({
  mode: modeSchema.default('enforce'),
  /** The mesh root / OSSM control-plane namespace. */
  meshRootNamespace: z.string().min(1).default('istio-system'),
  /** Used to resolve short (dot-less) DestinationRule hosts. */
  clusterDomain: z.string().min(1).default('cluster.local'),
  /** Per-namespace mode override, first match wins. */
  namespaces: z.array(z.strictObject({ match: globSchema, mode: modeSchema })).default([]),
  /** Requests from these identities are never checked or mutated. */
  exempt: z
    .strictObject({
      users: z.array(globSchema).default([]),
      groups: z.array(globSchema).default([]),
      namespaces: z.array(globSchema).default([]),
    })
    .prefault({}),
  rules: z.strictObject(RULE_SETTINGS).prefault({}),
  workloadKinds: z
    .array(workloadKindSchema)
    .default([])
    .describe('In-house workload kinds whose pod template is checked and mutated; each also becomes a rule of both webhook configurations.'),
  mutations: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** true: only pod templates that opt in to sidecar injection. */
      onlyInjected: z.boolean().default(false),
      annotations: z.array(annotationSchema).default([
        { key: 'sidecar.istio.io/rewriteAppHTTPProbers', value: 'true' },
        { key: 'sidecar.istio.io/statsInclusionPrefixes', value: 'tls_inspector,listener,cluster', merge: 'list' },
      ]),
    })
    .prefault({}),
});

/** A fully defaulted policy: every key of the policy file is present. */
export type Policy = z.output<typeof policySchema>;
/** A policy file as written: every key optional. */
export type PolicyFile = z.input<typeof policySchema>;
export type WorkloadKind = z.output<typeof workloadKindSchema>;
export type AnnotationSpec = z.output<typeof annotationSchema>;

/** The built-in defaults (a policy file with no keys). */
export function defaultPolicy(): Policy {
  return policySchema.parse({});
}
