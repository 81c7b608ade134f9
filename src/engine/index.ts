// The engine's public surface: everything outside src/engine/ imports from here and nowhere
// else (eslint enforces it). Pure: requests and policies in, decisions and patches out.
export { evaluate, effectiveMode, type EvaluateOptions } from './evaluate.js';
export { resolveHost, hostGlobCovers, likelyMeantService } from './istio/hosts.js';
export { globMatch } from './glob.js';
export { isHandledKind, podTemplatePath, splitApiVersion } from './kinds.js';
export { displayName, objectRef } from './messages.js';
export { planAnnotations, buildPatch, mergeList } from './mutate.js';
export { asRecord, asString, dig } from './read.js';
export { RULES } from './rules/index.js';
export { defaultPolicy, policySchema } from './policy-schema.js';
export * from './types.js';
export type * from './mesh-view.js';
// How Istio reads objects, for the mesh model (src/mesh/) to read them the same way.
export { peerMode, portKey } from './istio/peer-authentication.js';
export { clientTlsMode, effectiveClientTls, type EffectiveTls } from './istio/destination-rule.js';
export { injectionChoice, type InjectionChoice } from './istio/injection.js';
export { isWildcardHost } from './istio/hosts.js';
export { asArray, asStringMap, formatLabels } from './read.js';
