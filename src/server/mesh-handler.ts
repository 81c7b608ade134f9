// The validating webhook with the mesh around the object (cluster mode). The mutating webhook
// never asks the mesh. The server never blocks on the cluster: when the mesh state is not
// available (caches not synced yet, or a watch failing), the object is judged alone, and the
// answer says so with one warning; the caller (cluster-state.ts) logs it and counts it.
import { evaluate, RULES, type EngineRequest, type EvaluateOptions, type MeshView, type Policy } from '../engine/index.js';
import { decide, type AdmissionContext, type AdmissionHandler } from './handler.js';

/** The warning of an answer judged without the mesh: one line, under kubectl's 256 characters. */
export const MESH_UNAVAILABLE_WARNING = 'mtls-guard: mesh state unavailable: judged this object alone';

export type MeshAvailability = { ok: true; mesh: MeshView } | { ok: false; reason: string };

export interface MeshSource {
  /** The mesh as the caches hold it, for `policy` (root namespace, cluster domain), or why not. */
  current(policy: Policy): MeshAvailability;
  /** Told about every request judged alone because the mesh was not available. */
  judgedAlone(ctx: AdmissionContext, reason: string): void;
}

const VALIDATE: EvaluateOptions = { validate: true, mutate: false };

/** True when some mesh-aware rule that is not off would judge this request (DELETEs included). */
export function asksMesh(req: EngineRequest, policy: Policy): boolean {
  return RULES.some((rule) => rule.needsMesh === true && policy.rules[rule.id].action !== 'off' && rule.handles(req.kind, policy));
}

/** `decide`, with the mesh handed to the validating webhook's mesh-aware rules. */
export function decideWithMesh(getPolicy: () => Policy, source: MeshSource): AdmissionHandler {
  const alone = decide(getPolicy);
  return (ctx) => {
    if (ctx.webhook !== 'validate') return alone(ctx);
    const policy = getPolicy();
    const req = ctx.review.request;
    if (!asksMesh(req, policy)) return evaluate(req, policy, VALIDATE);
    const state = source.current(policy);
    if (state.ok) return evaluate(req, policy, { ...VALIDATE, mesh: state.mesh });
    const decision = evaluate(req, policy, VALIDATE);
    // Exempt or not judged at all: nothing was skipped that the mesh would have judged. A DELETE
    // is "skipped" (never refused) but would have been warned about from the mesh.
    if (decision.skipped === undefined || req.operation === 'DELETE') {
      decision.warnings.push(MESH_UNAVAILABLE_WARNING);
      source.judgedAlone(ctx, state.reason);
    }
    return decision;
  };
}
