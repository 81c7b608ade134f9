// Manifest documents → Kubernetes objects, the way `kubectl apply -f` builds them: each document
// becomes a JSON value as kubectl's YAML reader makes it (kube-yaml.ts), then lists are unwrapped
// as kubectl's resource builder does. Every problem is an error naming the file and the 1-based
// document, because a manifest `check` cannot read is a manifest it cannot vouch for; only empty
// documents are skipped. Pure: the caller reads and splits.
import { splitDocuments, type RawDocument } from './inputs.js';
import { documentValue, RefusedError, type JsonRecord } from './kube-yaml.js';

export type { JsonRecord };

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

function optionalString(rec: JsonRecord | undefined, key: string, where: string, errors: string[]): string | undefined {
  const value = rec?.[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  errors.push(`${where}: metadata.${key} must be a string, found ${describeType(value)}`);
  return undefined;
}

function checkKinds(object: JsonRecord, where: string): string | undefined {
  const { apiVersion, kind } = object;
  const missing = [typeof apiVersion !== 'string' || apiVersion === '' ? 'apiVersion' : '', typeof kind !== 'string' || kind === '' ? 'kind' : ''].filter(Boolean);
  return missing.length ? `${where}: missing or empty ${missing.join(' and ')}; every Kubernetes object needs apiVersion and kind` : undefined;
}

/** Validates one object and appends it; `where` prefixes every error. */
function collectObject(object: JsonRecord, source: string, where: string, out: ParsedManifests): void {
  const kindError = checkKinds(object, where);
  if (kindError) {
    out.errors.push(kindError);
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
  const manifest: Manifest = { source, apiVersion: object['apiVersion'] as string, kind: object['kind'] as string, name, object };
  if (namespace !== undefined && namespace !== '') manifest.namespace = namespace;
  out.manifests.push(manifest);
}

interface Pending {
  object: JsonRecord;
  source: string;
  where: string;
}

/**
 * One document's value → objects, unwrapped as kubectl does: any object with an `items` key is a
 * list (unstructuredJSONScheme.decode), and its items without apiVersion and kind take the list's
 * apiVersion and its kind minus "List". A list inside a list is refused, as kubectl refuses it.
 */
function collect(value: unknown, source: string, where: string, out: ParsedManifests): void {
  const object = asRecord(value);
  if (!object) {
    out.errors.push(`${where}: not a mapping (found ${describeType(value)}); a manifest must be a Kubernetes object`);
    return;
  }
  if (!('items' in object)) {
    collectObject(object, source, where, out);
    return;
  }
  const items = object['items'];
  if (items !== null && !Array.isArray(items)) {
    out.errors.push(`${where}: items must be a list, found ${describeType(items)}`);
    return;
  }
  if (typeof object['kind'] !== 'string' || object['kind'] === '') {
    out.errors.push(`${where}: missing or empty kind; every Kubernetes object needs apiVersion and kind`);
    return;
  }
  const itemKind = object['kind'].replace(/List$/, '');
  const queue: Pending[] = [];
  for (const [i, item] of (items ?? []).entries()) {
    const record = asRecord(item);
    if (!record) {
      out.errors.push(`${where}: items[${i}]: not a mapping (found ${describeType(item)}); a list item must be a Kubernetes object`);
      continue;
    }
    const inferred = !record['kind'] && !record['apiVersion'] ? { ...record, apiVersion: object['apiVersion'], kind: itemKind } : record;
    queue.push({ object: inferred, source: `${source}.items[${i}]`, where: `${where}: items[${i}]` });
  }
  for (const item of queue) {
    if (Array.isArray(item.object['items'])) {
      // FlattenListVisitor cannot extract items from an item ("is not a list: no Items field").
      out.errors.push(`${item.where}: a list inside a list; kubectl cannot apply it (put the inner list's items in the outer list)`);
      continue;
    }
    collectObject(item.object, item.source, item.where, out);
  }
}

/** One document → its objects (none for an empty document), or errors naming file and document. */
export function parseDocument(doc: RawDocument, file: string): ParsedManifests {
  const out: ParsedManifests = { manifests: [], errors: [] };
  const where = `${file}: document ${doc.number}`;
  let value: unknown;
  try {
    value = documentValue(doc);
  } catch (err) {
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      out.errors.push(`${where}: nested too deeply for mtls-guard to read (kubectl allows 10000 levels; no Kubernetes object needs this many)`);
      return out;
    }
    if (!(err instanceof RefusedError)) throw err;
    out.errors.push(`${where}: ${err.message}`);
    return out;
  }
  if (value === null) return out;
  collect(value, `${file}#${doc.number}`, where, out);
  return out;
}

/** Parses every document of a text held in memory; `file` is the name used in messages. */
export function parseManifests(text: string, file: string): ParsedManifests {
  const out: ParsedManifests = { manifests: [], errors: [] };
  const split = splitDocuments(text, file);
  for (const doc of split.documents) {
    const parsed = parseDocument(doc, file);
    out.manifests.push(...parsed.manifests);
    out.errors.push(...parsed.errors);
  }
  out.errors.push(...split.errors);
  return out;
}
