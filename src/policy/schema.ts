// The policy file's schema. zod reports the key path of every problem, which is what an
// administrator needs when a ConfigMap edit is refused ("rules.destinationrule-disable.acton").
import { z } from 'zod';

const modeSchema = z.enum(['enforce', 'audit']);
const actionSchema = z.enum(['deny', 'warn', 'off']);
// Globs are matched against user-controlled text on every request: the matcher is linear in the
// text, and a pattern is capped so the other factor stays small too. Control characters have no
// place in names and would collide with the wildcard-host marker.
const MAX_GLOB = 512;
const globSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_GLOB, `must be at most ${MAX_GLOB} characters`)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');
const portSchema = z.number().int().min(1).max(65535);
const portsSchema = z.array(portSchema).min(1, 'must list at least one port (omit the key to allow every port)');

export const workloadAllowEntrySchema = z.strictObject({
  namespace: globSchema,
  name: globSchema.optional(),
  selector: z.record(z.string(), z.string()).optional(),
  ports: portsSchema.optional(),
  reason: z.string().optional(),
});

export const hostAllowEntrySchema = z.strictObject({
  host: globSchema,
  namespace: globSchema.optional(),
  ports: portsSchema.optional(),
  reason: z.string().optional(),
});

export const nameAllowEntrySchema = z.strictObject({
  namespace: globSchema,
  name: globSchema.optional(),
  reason: z.string().optional(),
});

const ruleConfig = <E extends z.ZodType>(entry: E) =>
  z.strictObject({ action: actionSchema.optional(), allow: z.array(entry).optional() });

export const policyFileSchema = z.strictObject({
  mode: modeSchema.optional(),
  meshRootNamespace: z.string().min(1).optional(),
  clusterDomain: z.string().min(1).optional(),
  namespaces: z.array(z.strictObject({ match: globSchema, mode: modeSchema })).optional(),
  exempt: z
    .strictObject({
      users: z.array(globSchema).optional(),
      groups: z.array(globSchema).optional(),
      namespaces: z.array(globSchema).optional(),
    })
    .optional(),
  rules: z
    .strictObject({
      'peerauthentication-disable': ruleConfig(workloadAllowEntrySchema).optional(),
      'destinationrule-disable': ruleConfig(hostAllowEntrySchema).optional(),
      'destinationrule-insecure-tls': ruleConfig(hostAllowEntrySchema).optional(),
      'workload-port-exclusion': ruleConfig(nameAllowEntrySchema).optional(),
      'peerauthentication-permissive': ruleConfig(workloadAllowEntrySchema).optional(),
    })
    .optional(),
  workloadKinds: z
    .array(
      z.strictObject({
        group: z.string(),
        kind: z.string().min(1, 'must not be empty'),
        resource: z.string().min(1, 'must not be empty'),
        templatePath: z
          .string()
          .regex(/^[^.]+(\.[^.]+)*$/, 'must be a dotted key path to the pod template, e.g. spec.template'),
      }),
    )
    .optional(),
  mutations: z
    .strictObject({
      enabled: z.boolean().optional(),
      onlyInjected: z.boolean().optional(),
      annotations: z
        .array(
          z.strictObject({
            key: z.string().min(1),
            value: z.string(),
            merge: z.literal('list').optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});

export type PolicyFile = z.infer<typeof policyFileSchema>;
