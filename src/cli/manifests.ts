// Manifest text → Kubernetes objects, the way `kubectl apply -f` reads it: multi-document YAML
// (JSON is YAML), `List` kinds unwrapped. Pure: the caller reads files. Every problem is an
// error naming the file and the 1-based document, because a manifest `check` cannot read is a
// manifest it cannot vouch for; only empty documents are skipped.
import { parseAllDocuments } from 'yaml';

export type JsonRecord = Record<string, unknown>;

export interface Manifest {
  /** Where it came from: `file#document`, plus `.items[i]` inside a List. */
  source: string;
  apiVersion: string;
  kind: string;
  /** metadata.namespace when the object names one. */
  namespace?: string;
  /** metadata.name; empty for objects that only have generateName, as on admission. */
  name: string;
  object: JsonRecord;
}

export interface ParsedManifests {
  manifests: Manifest[];
  errors: string[];
}

function asRecord(value: unknown): JsonRecord | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonRecord) : undefined;
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

/** `yaml` puts position and a code excerpt in its message; keep the first line, position last. */
function syntaxError(message: string): string {
  const first = (message.split('\n')[0] ?? message).replace(/:$/, '');
  const at = / at (line \d+, column \d+)$/.exec(first);
  return at ? `YAML syntax error at ${at[1]}: ${first.slice(0, at.index)}` : `YAML syntax error: ${first}`;
}

function optionalString(rec: JsonRecord | undefined, key: string, where: string, errors: string[]): string | undefined {
  const value = rec?.[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  errors.push(`${where}: metadata.${key} must be a string, found ${describeType(value)}`);
  return undefined;
}

/** Validates one object (or unwraps a List) and appends it; `where` prefixes every error. */
function collect(value: unknown, source: string, where: string, out: ParsedManifests): void {
  const object = asRecord(value);
  if (!object) {
    out.errors.push(`${where}: not a mapping (found ${describeType(value)}); a manifest must be a Kubernetes object`);
    return;
  }
  const { apiVersion, kind, items } = object;
  const missing = [typeof apiVersion !== 'string' || apiVersion === '' ? 'apiVersion' : '', typeof kind !== 'string' || kind === '' ? 'kind' : '']
    .filter(Boolean);
  if (missing.length) {
    out.errors.push(`${where}: missing or empty ${missing.join(' and ')}; every Kubernetes object needs apiVersion and kind`);
    return;
  }
  // v1/List, PodList, DeploymentList...: kubectl applies each item, so each is judged.
  if ((kind as string).endsWith('List') && Array.isArray(items)) {
    items.forEach((item, i) => collect(item, `${source}.items[${i}]`, `${where}: items[${i}]`, out));
    return;
  }
  const rawMetadata = object['metadata'];
  const metadata = asRecord(rawMetadata);
  if (rawMetadata !== undefined && rawMetadata !== null && !metadata) {
    out.errors.push(`${where}: metadata must be a mapping, found ${describeType(rawMetadata)}`);
    return;
  }
  const before = out.errors.length;
  const namespace = optionalString(metadata, 'namespace', where, out.errors);
  const name = optionalString(metadata, 'name', where, out.errors) ?? '';
  if (out.errors.length > before) return;
  const manifest: Manifest = { source, apiVersion: apiVersion as string, kind: kind as string, name, object };
  if (namespace !== undefined && namespace !== '') manifest.namespace = namespace;
  out.manifests.push(manifest);
}

/** Parses every document of one file (or stdin); `file` is the name used in messages. */
export function parseManifests(text: string, file: string): ParsedManifests {
  const out: ParsedManifests = { manifests: [], errors: [] };
  const docs = parseAllDocuments(text);
  for (const [i, doc] of docs.entries()) {
    const where = `${file}: document ${i + 1}`;
    if (doc.errors.length) {
      for (const e of doc.errors) out.errors.push(`${where}: ${syntaxError(e.message)}`);
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      // e.g. too many alias expansions (a "billion laughs" document)
      out.errors.push(`${where}: cannot be read: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    if (value === null || value === undefined) continue;
    collect(value, `${file}#${i + 1}`, where, out);
  }
  return out;
}
