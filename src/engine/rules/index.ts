// Every rule, in the order its violations are reported.
import { runnable, type RunnableRule } from '../rule.js';
import { destinationRuleDisable } from './destinationrule-disable.js';
import { destinationRuleInsecureTls } from './destinationrule-insecure-tls.js';
import { peerAuthenticationDisable } from './peerauthentication-disable.js';
import { peerAuthenticationPermissive } from './peerauthentication-permissive.js';
import { workloadPortExclusion } from './workload-port-exclusion.js';

export const RULES: readonly RunnableRule[] = [
  runnable(peerAuthenticationDisable),
  runnable(peerAuthenticationPermissive),
  runnable(destinationRuleDisable),
  runnable(destinationRuleInsecureTls),
  runnable(workloadPortExclusion),
];
