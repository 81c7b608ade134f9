// Every rule, in the order its violations are reported. Adding a rule is its module under rules/
// plus one line in each list below: its settings become `rules.<id>` of the policy file (schema,
// defaults, chart schema), its id a RuleId.
import type { Rule } from '../rule.js';
import * as destinationRuleDisable from './destinationrule-disable.js';
import * as destinationRuleInsecureTls from './destinationrule-insecure-tls.js';
import * as destinationRuleStrictConflict from './destinationrule-strict-conflict.js';
import * as peerAuthenticationAuthzConflict from './peerauthentication-authz-conflict.js';
import * as peerAuthenticationStrictConflict from './peerauthentication-strict-conflict.js';
import * as peerAuthenticationDisable from './peerauthentication-disable.js';
import * as peerAuthenticationPermissive from './peerauthentication-permissive.js';
import * as workloadPortExclusion from './workload-port-exclusion.js';

/** Each rule's `rules.<id>` schema in the policy file, keyed by rule id. */
export const RULE_SETTINGS = {
  [peerAuthenticationDisable.id]: peerAuthenticationDisable.settings,
  [peerAuthenticationPermissive.id]: peerAuthenticationPermissive.settings,
  [destinationRuleDisable.id]: destinationRuleDisable.settings,
  [destinationRuleInsecureTls.id]: destinationRuleInsecureTls.settings,
  [workloadPortExclusion.id]: workloadPortExclusion.settings,
  [destinationRuleStrictConflict.id]: destinationRuleStrictConflict.settings,
  [peerAuthenticationStrictConflict.id]: peerAuthenticationStrictConflict.settings,
  [peerAuthenticationAuthzConflict.id]: peerAuthenticationAuthzConflict.settings,
};

/** A rule's stable id: in messages, warnings, logs, metrics and the policy file. */
export type RuleId = keyof typeof RULE_SETTINGS;

export const RULES: readonly Rule[] = [
  peerAuthenticationDisable.peerAuthenticationDisable,
  peerAuthenticationPermissive.peerAuthenticationPermissive,
  destinationRuleDisable.destinationRuleDisable,
  destinationRuleInsecureTls.destinationRuleInsecureTls,
  workloadPortExclusion.workloadPortExclusion,
  destinationRuleStrictConflict.destinationRuleStrictConflict,
  peerAuthenticationStrictConflict.peerAuthenticationStrictConflict,
  peerAuthenticationAuthzConflict.peerAuthenticationAuthzConflict,
];
