// Safe readers for untrusted JSON: admission objects are whatever a client sent, so the engine
// never assumes a shape and never throws on a surprising one.
export type JsonRecord = Record<string, unknown>;

export function asRecord(value: unknown): JsonRecord | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonRecord) : undefined;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Reads a nested key path; undefined as soon as a step is not an object. */
export function dig(value: unknown, ...keys: string[]): unknown {
  let cur: unknown = value;
  for (const key of keys) {
    const rec = asRecord(cur);
    if (!rec || !Object.hasOwn(rec, key)) return undefined;
    cur = rec[key];
  }
  return cur;
}

/** A string map (labels, annotations, matchLabels), keeping only string values. */
export function asStringMap(value: unknown): Record<string, string> | undefined {
  const rec = asRecord(value);
  if (!rec) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(rec)) if (typeof v === 'string') out[k] = v;
  return out;
}

export function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(',') : '(none)';
}
