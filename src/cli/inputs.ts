// `-f` arguments → a stream of manifest documents, one at a time, read the way kubectl reads them
// (k8s.io/cli-runtime FileVisitor and k8s.io/apimachinery's YAMLOrJSONDecoder): a UTF-16 or
// UTF-8 byte-order mark is honoured, a stream whose first non-space character is `{` is read as
// JSON values, anything else is split into YAML documents at lines starting with `---`. Files,
// folders (recursive, sorted so output is stable across machines) and `-` for stdin. Problems
// are messages naming the path, never thrown past this module.
import { createReadStream, type Stats } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TextDecoder } from 'node:util';
import { errorMessage } from '../util/errors.js';

export const STDIN = '-';
/** How stdin is named in messages and `source`. */
export const STDIN_NAME = '<stdin>';
const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];
/** The API server takes requests up to 3 MiB; a document far beyond that is a mistake, not a manifest. */
export const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;
/** GuessJSONStream looks this far for the opening `{`. */
const JSON_SNIFF_BYTES = 4096;

export interface InputSource {
  /** The path as the user wrote it (joined with folder entries), or <stdin>. */
  name: string;
  /** The bytes, in chunks; errors (permission denied...) surface while iterating. */
  open(): AsyncIterable<Uint8Array>;
}

export interface ListedInputs {
  sources: InputSource[];
  errors: string[];
}

/** One document of a stream, as kubectl's reader cuts it. */
export interface RawDocument {
  /** 1-based: the nth document of the file, empty ones included (a leading `---` starts #1). */
  number: number;
  /** The file line the document starts on. */
  line: number;
  text: string;
  /** Read as a JSON value (the stream started with `{`), not as YAML. */
  json: boolean;
}

/** A problem that stops reading one input: bad encoding, a bad separator, unreadable file. */
export class InputError extends Error {}

export function reason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'path not found';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a folder';
  return errorMessage(err);
}

function isManifestFile(name: string): boolean {
  const lower = name.toLowerCase();
  return MANIFEST_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Manifest files under a folder, depth first in name order; hidden entries (.git, .github) are
 * skipped. Returns false when the folder was already walked (a symlink loop, or given twice).
 */
async function walk(dir: string, seen: Set<string>, out: string[], errors: string[]): Promise<boolean> {
  let real: string;
  let names: string[];
  try {
    real = await realpath(dir);
    if (seen.has(real)) return false;
    seen.add(real);
    names = (await readdir(dir)).sort();
  } catch (err) {
    errors.push(`${dir}: cannot read folder: ${reason(err)}`);
    return true;
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    const info = await statOrReport(path, errors);
    if (!info) continue;
    if (info.isDirectory()) await walk(path, seen, out, errors);
    else if (info.isFile() && isManifestFile(name)) out.push(path);
  }
  return true;
}

/** stat, or an error line naming the path (missing file, no permission) and undefined. */
async function statOrReport(path: string, errors: string[]): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    errors.push(`${path}: ${reason(err)}`);
    return undefined;
  }
}

function fileSource(name: string): InputSource {
  return { name, open: () => createReadStream(name, { highWaterMark: 1 << 16 }) };
}

/** Resolves every `-f` argument in order to the inputs it names; `openStdin` is used at most once. */
export async function listInputs(paths: readonly string[], openStdin: () => AsyncIterable<Uint8Array>): Promise<ListedInputs> {
  const sources: InputSource[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  let stdinUsed = false;
  for (const path of paths) {
    if (path === STDIN) {
      if (stdinUsed) errors.push(`-f -: stdin can be read only once`);
      else sources.push({ name: STDIN_NAME, open: openStdin });
      stdinUsed = true;
      continue;
    }
    const info = await statOrReport(path, errors);
    if (!info) continue;
    if (!info.isDirectory()) {
      sources.push(fileSource(path));
      continue;
    }
    const files: string[] = [];
    const before = errors.length;
    const walked = await walk(path, seen, files, errors);
    if (walked && files.length === 0 && errors.length === before) {
      // Most likely a wrong path in a pipeline: passing it would vouch for nothing.
      errors.push(`${path}: folder holds no ${MANIFEST_EXTENSIONS.join(', ')} files`);
    }
    sources.push(...files.map(fileSource));
  }
  return { sources, errors };
}

/** Standard input as chunks; a closed or missing stdin reads as empty. */
export async function* stdinChunks(): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of process.stdin) yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EBADF') throw err;
  }
}

// ---- bytes → text ----------------------------------------------------------------------------

function hex(b: number): string {
  return `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Offset of the first byte that is not valid UTF-8 (Go's rules: no overlongs, no surrogates). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      if (c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** Why bytes with NULs are not a manifest: UTF-16/32 without a byte-order mark, or binary. */
function describeNulBytes(sample: Uint8Array): string {
  if (sample[0] === 0x1f && sample[1] === 0x8b) return 'binary (looks like gzip-compressed data), not a YAML or JSON manifest';
  let even = 0;
  let odd = 0;
  const n = Math.min(sample.length, 4096);
  for (let i = 0; i < n; i++) {
    if (sample[i] !== 0) continue;
    if (i % 2 === 0) even++;
    else odd++;
  }
  const half = n / 2;
  if (odd > half * 0.9 && even < half * 0.1) return 'not UTF-8 (looks like UTF-16LE without a byte-order mark); save it as UTF-8';
  if (even > half * 0.9 && odd < half * 0.1) return 'not UTF-8 (looks like UTF-16BE without a byte-order mark); save it as UTF-8';
  return 'binary (it holds NUL bytes), not a YAML or JSON manifest';
}

/**
 * Decodes a byte stream as kubectl does (unicode.BOMOverride): a UTF-8 BOM is dropped, a UTF-16
 * BOM selects UTF-16. Without one the bytes must be UTF-8: kubectl would silently turn invalid
 * bytes into U+FFFD and apply the result, so they are refused here instead.
 */
export async function* decodeText(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  let decoder: TextDecoder | undefined;
  let head = Buffer.alloc(0);
  let offset = 0;
  for await (const chunk of chunks) {
    let bytes: Uint8Array = chunk;
    if (!decoder) {
      head = Buffer.concat([head, Buffer.from(chunk)]);
      if (head.length < 4) continue;
      [decoder, bytes] = chooseDecoder(head);
    }
    yield decodeChunk(decoder, bytes, offset, false);
    offset += bytes.length;
  }
  if (!decoder) {
    if (head.length === 0) return;
    const [only, bytes] = chooseDecoder(head);
    decoder = only;
    yield decodeChunk(decoder, bytes, 0, false);
  }
  yield decodeChunk(decoder, new Uint8Array(0), offset, true);
}

function chooseDecoder(head: Buffer): [TextDecoder, Uint8Array] {
  const [b0, b1, b2, b3] = head;
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return [new TextDecoder('utf-8', { fatal: true }), head.subarray(3)];
  if (b0 === 0xff && b1 === 0xfe && b2 === 0 && b3 === 0) throw new InputError('not UTF-8 (looks like UTF-32LE, which kubectl cannot read); save it as UTF-8');
  if (b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff) throw new InputError('not UTF-8 (looks like UTF-32BE, which kubectl cannot read); save it as UTF-8');
  if (b0 === 0xff && b1 === 0xfe) return [new TextDecoder('utf-16le', { fatal: true, ignoreBOM: true }), head.subarray(2)];
  if (b0 === 0xfe && b1 === 0xff) return [new TextDecoder('utf-16be', { fatal: true, ignoreBOM: true }), head.subarray(2)];
  if (head.includes(0)) throw new InputError(describeNulBytes(head));
  return [new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }), head];
}

function decodeChunk(decoder: TextDecoder, bytes: Uint8Array, offset: number, last: boolean): string {
  try {
    return decoder.decode(bytes, { stream: !last });
  } catch {
    if (decoder.encoding !== 'utf-8') throw new InputError(`not valid ${decoder.encoding.toUpperCase()} (an unpaired surrogate near byte ${offset}); save it as UTF-8`);
    if (bytes.includes(0)) throw new InputError(describeNulBytes(bytes));
    const at = firstInvalidUtf8(bytes);
    const where = at < 0 ? `at the end of the input` : `at byte ${offset + at} (${hex(bytes[at] as number)})`;
    throw new InputError(`not UTF-8: invalid byte ${where}; save it as UTF-8 (kubectl would replace such bytes with U+FFFD)`);
  }
}

// ---- text → documents ------------------------------------------------------------------------

/** Go's unicode.IsSpace, which GuessJSONStream and TrimSpace use. */
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*/;

/**
 * kubectl's YAMLOrJSONDecoder as a push parser. JSON mode: one JSON value after another; if a value
 * fails before two were read, the rest is YAML. YAML mode: YAMLReader, lines starting with `---`
 * end a document, and anything but a comment after the `---` is an error.
 */
export class DocumentSplitter {
  private mode: 'sniff' | 'json' | 'yaml' = 'sniff';
  private pending = '';
  /** Lines of the YAML document being read. */
  private lines: string[] = [];
  private bytes = 0;
  private lineNumber = 1;
  private documentLine = 1;
  private number = 1;
  private contentBeforeFirstSeparator = false;
  private separators = 0;
  private jsonValues = 0;

  push(text: string): RawDocument[] {
    this.pending += text;
    const out: RawDocument[] = [];
    this.drain(out, false);
    return out;
  }

  end(): RawDocument[] {
    const out: RawDocument[] = [];
    this.drain(out, true);
    if (this.mode === 'yaml') {
      if (this.pending !== '') this.line(this.pending, out);
      this.pending = '';
      this.flush(out);
    }
    return out;
  }

  private drain(out: RawDocument[], atEnd: boolean): void {
    if (this.mode === 'sniff') {
      const space = (GO_SPACE.exec(this.pending) as RegExpExecArray)[0];
      const decided = space.length < this.pending.length || Buffer.byteLength(this.pending) >= JSON_SNIFF_BYTES || atEnd;
      if (!decided) return;
      const rest = this.pending.slice(space.length);
      this.mode = rest.startsWith('{') && Buffer.byteLength(space) < JSON_SNIFF_BYTES ? 'json' : 'yaml';
    }
    if (this.mode === 'json') this.jsonValuesFrom(out, atEnd);
    if (this.mode === 'yaml') this.yamlLines(out);
  }

  private yamlLines(out: RawDocument[]): void {
    let start = 0;
    for (let nl = this.pending.indexOf('\n'); nl >= 0; nl = this.pending.indexOf('\n', start)) {
      this.line(this.pending.slice(start, nl).replace(/\r$/, ''), out);
      start = nl + 1;
    }
    this.pending = this.pending.slice(start);
    if (Buffer.byteLength(this.pending) > MAX_DOCUMENT_BYTES) this.tooLarge();
  }

  private tooLarge(): never {
    throw new InputError(
      `document ${this.number} (line ${this.documentLine}) is larger than ${MAX_DOCUMENT_BYTES / 1024 / 1024} MiB; the API server takes at most 3 MiB per request`,
    );
  }

  private line(line: string, out: RawDocument[]): void {
    const at = this.lineNumber++;
    if (line.startsWith('---')) {
      const trimmed = line.slice(3).replace(GO_SPACE, '').trimEnd();
      if (trimmed !== '' && !trimmed.startsWith('#')) {
        throw new InputError(`line ${at}: invalid YAML document separator: ${trimmed} (kubectl allows only a comment after ---; put the content on the next line)`);
      }
      this.flush(out);
      if (this.separators > 0 || this.contentBeforeFirstSeparator) this.number++;
      this.separators++;
      this.documentLine = at + 1;
      return;
    }
    if (this.separators === 0 && !/^\s*(#|$)/.test(line)) this.contentBeforeFirstSeparator = true;
    this.lines.push(line);
    this.bytes += line.length + 1;
    if (this.bytes > MAX_DOCUMENT_BYTES) this.tooLarge();
  }

  private flush(out: RawDocument[]): void {
    if (this.lines.length === 0) return;
    out.push({ number: this.number, line: this.documentLine, text: `${this.lines.join('\n')}\n`, json: false });
    this.lines = [];
    this.bytes = 0;
  }

  /** Resumable scan state for the JSON value at the start of `pending` (after `scanFrom` spaces). */
  private scan = { pos: -1, depth: 0, inString: false };

  /** Where the JSON value starting at `from` ends, or -1 if the text ends first. */
  private jsonEnd(from: number, atEnd: boolean): number {
    const text = this.pending;
    const first = text[from];
    if (first !== '{' && first !== '[' && first !== '"') {
      const m = /^[^\s{}[\],:"]*/.exec(text.slice(from, from + 1024)) as RegExpExecArray;
      const end = from + m[0].length;
      return end < text.length || atEnd ? end : -1;
    }
    const s = this.scan;
    if (s.pos < from) Object.assign(s, { pos: from, depth: 0, inString: false });
    for (; s.pos < text.length; s.pos++) {
      const c = text.charCodeAt(s.pos);
      if (s.inString) {
        if (c === 0x5c) s.pos++;
        else if (c === 0x22) {
          s.inString = false;
          if (s.depth === 0) return this.scanDone(s.pos + 1);
        }
      } else if (c === 0x22) s.inString = true;
      else if (c === 0x7b || c === 0x5b) s.depth++;
      else if (c === 0x7d || c === 0x5d) {
        s.depth--;
        if (s.depth <= 0) return this.scanDone(s.pos + 1);
      }
    }
    if (s.pos > text.length) s.pos = text.length - 1; // a backslash was the last character
    return -1;
  }

  private scanDone(end: number): number {
    this.scan = { pos: -1, depth: 0, inString: false };
    return end;
  }

  private jsonValuesFrom(out: RawDocument[], atEnd: boolean): void {
    for (;;) {
      const space = (/^[ \t\r\n]*/.exec(this.pending) as RegExpExecArray)[0];
      if (space.length === this.pending.length) {
        if (atEnd) this.pending = '';
        return;
      }
      const end = this.jsonEnd(space.length, atEnd);
      if (end < 0 && !atEnd) {
        if (this.pending.length > MAX_DOCUMENT_BYTES) this.tooLarge();
        return;
      }
      const text = end < 0 ? '' : this.pending.slice(space.length, end);
      let valid = text !== '';
      try {
        if (valid) JSON.parse(text);
      } catch {
        valid = false;
      }
      const startLine = this.lineNumber + newlines(space);
      if (!valid) {
        if (this.jsonValues > 1) {
          throw new InputError(`line ${startLine}: JSON syntax error after ${this.jsonValues} JSON values (kubectl reads the rest of a JSON stream as YAML only after the first one)`);
        }
        // json.Decoder failed: rewind, eat spaces up to the first newline, read the rest as YAML.
        const skip = (/^[\t\v\f\r \u0085\u00a0]*\n?/.exec(this.pending) as RegExpExecArray)[0];
        this.lineNumber += newlines(skip);
        this.documentLine = this.lineNumber;
        this.pending = this.pending.slice(skip.length);
        this.scanDone(0);
        this.mode = 'yaml';
        return;
      }
      this.jsonValues++;
      out.push({ number: this.number++, line: startLine, text, json: true });
      this.lineNumber += newlines(this.pending.slice(0, end));
      this.documentLine = this.lineNumber;
      this.pending = this.pending.slice(end);
    }
  }
}

function newlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Splits a text held in memory; errors name no file (the caller adds it). */
export function splitDocuments(text: string, file: string): { documents: RawDocument[]; errors: string[] } {
  const splitter = new DocumentSplitter();
  try {
    return { documents: [...splitter.push(text), ...splitter.end()], errors: [] };
  } catch (err) {
    if (err instanceof InputError) return { documents: [], errors: [`${file}: ${err.message}`] };
    throw err;
  }
}

/** Every document of one input, read and split as it streams in. */
export async function* readDocuments(source: InputSource): AsyncGenerator<RawDocument> {
  const splitter = new DocumentSplitter();
  try {
    for await (const text of decodeText(source.open())) yield* splitter.push(text);
    yield* splitter.end();
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${source.name}: ${err.message}`, { cause: err });
    throw new InputError(`${source.name}: cannot read: ${reason(err)}`, { cause: err });
  }
}
