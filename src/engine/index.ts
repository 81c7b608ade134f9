// The engine's public surface, used by the server and the CLI alike.
export { evaluate, effectiveMode, type EvaluateOptions } from './evaluate.js';
export { resolveHost, hostGlobCovers, likelyMeantService } from './istio/hosts.js';
export { globMatch } from './glob.js';
export { isHandledKind, podTemplatePath, splitApiVersion } from './kinds.js';
export { planAnnotations, buildPatch, mergeList } from './mutate.js';
export { RULES } from './rules/index.js';
export { defaultPolicy, policySchema } from './policy-schema.js';
export * from './types.js';
