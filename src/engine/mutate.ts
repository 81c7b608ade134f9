// Mutation planning: which sidecar annotations a pod template lacks, and the RFC 6902 patch
// that adds them. The patch is the diff of the template's metadata and a changed copy of it
// (fast-json-patch escapes `/` in keys as `~1`); only that small subtree is copied, never the
// whole object, which matters for large UPDATE reviews.
import jsonpatch from 'fast-json-patch';
import { injectionChoice, optsOutAnywhere } from './istio/injection.js';
import { podTemplatePath } from './kinds.js';
import { asRecord, dig } from './read.js';
import type { GroupVersionKind, JsonPatchOperation, PlannedAnnotation, Policy } from './types.js';

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Appends the configured comma-separated items the current value lacks, keeping the user's. */
export function mergeList(current: string, wanted: string): string {
  const have = current.split(',').map((s) => s.trim()).filter(Boolean);
  const missing = wanted.split(',').map((s) => s.trim()).filter((s) => s && !have.includes(s));
  if (missing.length === 0) return current;
  // Keep the user's text exactly as written; only append what is missing.
  const kept = current.replace(/[\s,]+$/, '');
  return kept ? `${kept},${missing.join(',')}` : missing.join(',');
}

/**
 * The sidecar annotations a workload's pod template lacks (README "Rules", mutation).
 * @param object the workload (any JSON); @param gvk its kind, which gives the template's path.
 * @returns one entry per annotation to add or change (with `merge: list`, the merged value);
 *   empty when mutations are off, the kind has no template, the template opts out of injection
 *   (or does not opt in under `onlyInjected`), or its metadata is malformed. Never throws.
 */
export function planAnnotations(object: unknown, gvk: GroupVersionKind, policy: Policy): PlannedAnnotation[] {
  const path = podTemplatePath(gvk, policy);
  if (!path || !policy.mutations.enabled) return [];
  const template = dig(object, ...path);
  if (!asRecord(template)) return [];
  const metadata = dig(template, 'metadata');
  const annotationsRaw = dig(metadata, 'annotations');
  // A template whose metadata or annotations is some other JSON type is malformed: leave it to
  // the API server's validation rather than overwrite it.
  if (metadata !== undefined && !asRecord(metadata)) return [];
  if (annotationsRaw !== undefined && annotationsRaw !== null && !asRecord(annotationsRaw)) return [];
  if (optsOutAnywhere(template)) return [];
  if (policy.mutations.onlyInjected && injectionChoice(template) !== 'in') return [];
  const annotations = asRecord(annotationsRaw) ?? {};
  const pointer = '/' + path.map(escapePointer).join('/');
  const planned: PlannedAnnotation[] = [];
  for (const spec of policy.mutations.annotations) {
    const raw = annotations[spec.key];
    const current = typeof raw === 'string' ? raw : undefined;
    if (current === undefined) {
      planned.push({ templatePointer: pointer, key: spec.key, to: spec.value });
    } else if (spec.merge === 'list') {
      const merged = mergeList(current, spec.value);
      if (merged !== current) planned.push({ templatePointer: pointer, key: spec.key, from: current, to: merged });
    }
  }
  return planned;
}

/**
 * The RFC 6902 JSON Patch that applies `planned` to the object: the diff of the template's
 * metadata before and after (fast-json-patch `compare`, which escapes `/` as `~1`), with paths
 * under the template's pointer; missing `metadata`/`annotations` objects are created.
 * @returns the operations; empty when nothing is planned.
 */
export function buildPatch(object: unknown, gvk: GroupVersionKind, planned: readonly PlannedAnnotation[], policy: Policy): JsonPatchOperation[] {
  const path = podTemplatePath(gvk, policy);
  const first = planned[0];
  if (!path || !first) return [];
  const metadata = asRecord(dig(object, ...path, 'metadata'));
  const before = metadata ? { metadata } : {};
  const annotations = { ...(asRecord(metadata?.['annotations']) ?? {}) };
  for (const p of planned) annotations[p.key] = p.to;
  const after = { metadata: { ...(metadata ?? {}), annotations } };
  return jsonpatch.compare(before, after).map((op) => ({ ...op, path: first.templatePointer + op.path }));
}
