// YAML documents → JSON values exactly as kubectl builds them. kubectl turns each YAML document
// into JSON with sigs.k8s.io/yaml, a fork of go-yaml v2: YAML 1.1 scalars (`yes`/`on`/`y` are
// booleans, `0755` is octal), positional `<<` merge keys, non-string keys made strings, the last
// duplicate key wins. Reading YAML 1.2 instead would let `insecureSkipVerify: yes` pass here and
// be sent as `true`. So the syntax comes from the `yaml` package (every scalar kept as written:
// the failsafe schema) and every value is resolved by go-yaml v2's rules, ported below from
// go.yaml.in/yaml/v2 resolve.go and decode.go and sigs.k8s.io/yaml yaml.go. Documents in the
// plain block style most manifests use take a faster reader (kube-yaml-fast.ts) with the same
// rules; anything else takes this one.
import { Composer, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, Parser, type Alias, type Document, type Node as YamlNode, type Scalar } from 'yaml';
import type { RawDocument } from './inputs.js';
import { fastDecode, UNSUPPORTED } from './kube-yaml-fast.js';
import { errorMessage } from '../util/errors.js';

export type JsonRecord = Record<string, unknown>;

/** A document kubectl would refuse; the message says why, without the file and document. */
export class RefusedError extends Error {}

export function refuse(message: string): never {
  throw new RefusedError(message);
}

// ---- go-yaml v2 scalar resolution ------------------------------------------------------------

const TAG = 'tag:yaml.org,2002:';
const [STR, BOOL, INT, FLOAT, NULL, TIMESTAMP, BINARY, MERGE] = ['str', 'bool', 'int', 'float', 'null', 'timestamp', 'binary', 'merge'].map((t) => TAG + t) as [
  string, string, string, string, string, string, string, string,
];
const RESOLVABLE = new Set(['', STR, BOOL, INT, FLOAT, NULL, TIMESTAMP]);

/** A decoded scalar with the Go type go-yaml gives it: the type decides how a map key is spelt. */
export type GoScalar =
  | { type: 'null' }
  | { type: 'bool'; value: boolean }
  | { type: 'int' | 'uint'; value: bigint }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string };

const RESOLVE_MAP = new Map<string, GoScalar>();
for (const [value, spellings] of [
  [true, ['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']],
  [false, ['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']],
] as const) {
  for (const s of spellings) RESOLVE_MAP.set(s, { type: 'bool', value });
}
for (const s of ['', '~', 'null', 'Null', 'NULL']) RESOLVE_MAP.set(s, { type: 'null' });
for (const s of ['.nan', '.NaN', '.NAN']) RESOLVE_MAP.set(s, { type: 'float', value: NaN });
for (const s of ['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF']) RESOLVE_MAP.set(s, { type: 'float', value: Infinity });
for (const s of ['-.inf', '-.Inf', '-.INF']) RESOLVE_MAP.set(s, { type: 'float', value: -Infinity });

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const DIGITS: Record<number, RegExp> = { 2: /^[01]*$/, 8: /^[0-7]*$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]*$/ };

/** Go's strconv.ParseInt(s, 0, 64) (signed) or ParseUint(s, 0, 64): 0x, 0o, 0b and 0-octal prefixes. */
function goParseInteger(s: string, signed: boolean): bigint | undefined {
  let body = s;
  let negative = false;
  if (signed && (body[0] === '+' || body[0] === '-')) {
    negative = body[0] === '-';
    body = body.slice(1);
  }
  if (body === '') return undefined;
  let base = 10;
  if (body[0] === '0') {
    const prefix = body[1]?.toLowerCase();
    if (body.length >= 3 && (prefix === 'b' || prefix === 'o' || prefix === 'x')) {
      base = prefix === 'b' ? 2 : prefix === 'o' ? 8 : 16;
      body = body.slice(2);
    } else {
      base = 8;
      body = body.slice(1);
    }
  }
  if (!(DIGITS[base] as RegExp).test(body)) return undefined;
  let value = 0n;
  for (const c of body) value = value * BigInt(base) + BigInt(parseInt(c, 16));
  if (negative) value = -value;
  if (signed ? value < INT64_MIN || value > INT64_MAX : value > UINT64_MAX) return undefined;
  return value;
}

/** Go's strconv.ParseFloat for the spellings that reach it; out of range is not a float. */
function goParseFloat(s: string): number | undefined {
  const value = Number(s);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * The subset of YAML timestamps go-yaml v2 accepts (its allowedTimestampFormats, read by Go's
 * time.Parse). Only a `!!timestamp` tag depends on it: untagged, a timestamp stays a string.
 */
function isGoTimestamp(s: string): boolean {
  const m =
    /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,]\d+)?(?:Z|[+-]\d{2}:\d{2})| (\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,]\d+)?)?$/.exec(s);
  if (!m) return false;
  const n = (i: number): number => Number(m[i] ?? m[i + 3] ?? 0);
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && n(4) < 24 && n(5) < 60 && n(6) < 60;
}

/** Go's string(bytes) as encoding/json writes it: each invalid UTF-8 byte becomes U+FFFD. */
function goBytesToString(bytes: Buffer): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    let ok = need >= 0 && i + need < bytes.length + (need === 0 ? 1 : 0);
    for (let k = 1; ok && k <= need; k++) {
      const c = bytes[i + k];
      ok = c !== undefined && c >= (k === 1 ? lo : 0x80) && c <= (k === 1 ? hi : 0xbf);
    }
    if (!ok) {
      out += '\ufffd';
      i += 1;
      continue;
    }
    out += bytes.subarray(i, i + need + 1).toString('utf8');
    i += need + 1;
  }
  return out;
}

function shortTag(tag: string): string {
  return tag.startsWith(TAG) ? `!!${tag.slice(TAG.length)}` : tag;
}

function typeTag(r: GoScalar): string {
  return { null: NULL, bool: BOOL, int: INT, uint: INT, float: FLOAT, string: STR }[r.type];
}

/** go-yaml's resolveTable: which first characters may start something other than a string. */
function resolveHint(text: string): string {
  if (text === '') return 'N';
  const c = text.charCodeAt(0);
  if (c === 0x2b || c === 0x2d) return 'S';
  if (c >= 0x30 && c <= 0x39) return 'D';
  if (c === 0x2e) return '.';
  return 'yYnNtTfFoO~'.includes(text[0] as string) ? 'M' : '';
}

/** go-yaml v2 resolve(): what an untagged plain scalar, or one with a standard tag, becomes. */
function resolveTagged(tag: string, text: string): GoScalar {
  let result: GoScalar = { type: 'string', value: text };
  let resultTag = STR;
  const hint = resolveHint(text);
  if (hint !== '' && tag !== STR) {
    const known = RESOLVE_MAP.get(text);
    if (known) {
      result = known;
      resultTag = typeTag(known);
    } else if (hint === '.') {
      const value = /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(text) ? goParseFloat(text) : undefined;
      if (value !== undefined) [result, resultTag] = [{ type: 'float', value }, FLOAT];
    } else if (hint === 'D' || hint === 'S') {
      const plain = text.replaceAll('_', '');
      const int = goParseInteger(plain, true);
      const uint = int === undefined ? goParseInteger(plain, false) : undefined;
      const float = int === undefined && uint === undefined && YAML_STYLE_FLOAT.test(plain) ? goParseFloat(plain) : undefined;
      if ((tag === '' || tag === TIMESTAMP) && isGoTimestamp(text)) resultTag = TIMESTAMP;
      else if (int !== undefined) [result, resultTag] = [{ type: 'int', value: int }, INT];
      else if (uint !== undefined) [result, resultTag] = [{ type: 'uint', value: uint }, INT];
      else if (float !== undefined) [result, resultTag] = [{ type: 'float', value: float }, FLOAT];
      // go-yaml's own 0b fallback after ParseInt never succeeds where ParseInt(s, 0, 64) failed.
    }
  }
  if (tag === '' || tag === resultTag || tag === STR) return result;
  if (tag === FLOAT && resultTag === INT && result.type === 'int') return { type: 'float', value: Number(result.value) };
  return refuse(`cannot decode ${shortTag(resultTag)} \`${text}\` as a ${shortTag(tag)}`);
}

/**
 * go-yaml (YAML 1.1) knows fewer escapes than the `yaml` package (YAML 1.2): no `\/`, and no
 * surrogate halves through `\u`; kubectl refuses those, so they are refused here too.
 */
function checkDoubleQuotedEscapes(raw: string): void {
  for (let i = raw.indexOf('\\'); i >= 0; i = raw.indexOf('\\', i + 2)) {
    const e = raw[i + 1] as string;
    const length = ({ x: 2, u: 4, U: 8 } as Record<string, number>)[e];
    if (length) {
      const code = parseInt(raw.slice(i + 2, i + 2 + length), 16);
      if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) refuse('found invalid Unicode character escape code');
      i += length;
    } else if (!'0abt\tnvfre "\'\\N_LP\n\r'.includes(e)) refuse(`found unknown escape character \\${e}`);
  }
}

function resolveNode(node: Scalar, text: string): GoScalar {
  if (node.type === 'QUOTE_DOUBLE' && node.range) checkDoubleQuotedEscapes(text.slice(node.range[0], node.range[1]));
  return resolveScalar(String(node.value ?? ''), node.type === 'PLAIN', node.tag ?? '');
}

/** go-yaml's decoder.scalar(): `plain` for an unquoted scalar, `tag` the long form or ''. */
export function resolveScalar(text: string, plain: boolean, tag: string): GoScalar {
  const implicit = plain || tag === '!';
  if (tag === '' && !implicit) return { type: 'string', value: text };
  if (tag === BINARY) {
    const base64 = text.replace(/[\r\n]/g, '');
    if (!/^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(base64)) refuse('!!binary value contains invalid base64 data');
    return { type: 'string', value: goBytesToString(Buffer.from(base64, 'base64')) };
  }
  if (!RESOLVABLE.has(tag)) return { type: 'string', value: text };
  return resolveTagged(tag, text);
}

/** strconv.FormatFloat(f, 'g', -1, 32), as sigs.k8s.io/yaml spells a float map key. */
function goFloat32Key(f: number): string {
  const f32 = Math.fround(f);
  if (Number.isNaN(f32)) return '.nan';
  if (!Number.isFinite(f32)) return f32 > 0 ? '.inf' : '-.inf';
  if (f32 === 0) return Object.is(f32, -0) ? '-0' : '0';
  let exponential = f32.toExponential(8);
  for (let p = 0; p <= 8; p++) {
    const candidate = f32.toExponential(p);
    if (Math.fround(Number(candidate)) === f32) {
      exponential = candidate;
      break;
    }
  }
  const [mantissa = '', exp = '0'] = exponential.split('e');
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace(/[-.]/g, '').replace(/0+$/, '') || '0';
  const e = Number(exp);
  const sign = negative ? '-' : '';
  if (e < -4 || e >= 6) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
    return `${sign}${digits[0]}${frac}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  const whole = digits.slice(0, e + 1).padEnd(e + 1, '0');
  const frac = digits.slice(e + 1);
  return `${sign}${whole}${frac ? `.${frac}` : ''}`;
}

/** The JSON value kubectl sends for a scalar (after sigs.k8s.io/yaml's json.Marshal). */
export function scalarJson(r: GoScalar): unknown {
  switch (r.type) {
    case 'null':
      return null;
    case 'bool':
    case 'string':
      return r.value;
    case 'int':
    case 'uint':
      return Number(r.value);
    case 'float':
      if (!Number.isFinite(r.value)) refuse(`json: unsupported value: ${Number.isNaN(r.value) ? 'NaN' : r.value > 0 ? '+Inf' : '-Inf'} (YAML .nan and .inf have no JSON form)`);
      return r.value === 0 ? 0 : r.value;
  }
}

/** sigs.k8s.io/yaml's key conversion: the JSON key and Go's identity of the original key. */
function mapKey(r: GoScalar): { key: string; identity: string } {
  switch (r.type) {
    case 'string':
      return { key: r.value, identity: 's' };
    case 'int':
      return { key: r.value.toString(), identity: 'i' };
    case 'float': {
      const key = goFloat32Key(r.value);
      return { key, identity: Number.isNaN(r.value) ? `nan:${Math.random()}` : `f:${Object.is(r.value, -0) ? '-0' : r.value}` };
    }
    case 'bool':
      return { key: String(r.value), identity: 'b' };
    case 'null':
      return refuse('unsupported map key of type: <nil> (a null key has no JSON form)');
    case 'uint':
      return refuse(`unsupported map key of type: uint64, key: ${r.value} (too large for a JSON key)`);
  }
}

/**
 * Go's `map[key] = value` for a decoded key, then sigs.k8s.io/yaml's string conversion: the same
 * Go key again overwrites; two different keys with one spelling (80 and "80") reach JSON in Go's
 * random map order, so kubectl's result is not fixed: refused.
 */
export function assignKey(out: JsonRecord, identities: Map<string, string>, goKey: GoScalar, value: unknown): void {
  // `identities` records only keys that were not strings: a string key is a string in `out`.
  let key: string;
  if (goKey.type === 'string') {
    key = goKey.value;
    if (identities.size > 0 && identities.has(key)) refuseCollision(key);
  } else {
    const typed = mapKey(goKey);
    key = typed.key;
    const previous = identities.get(key);
    if (previous === undefined ? Object.prototype.hasOwnProperty.call(out, key) : previous !== typed.identity) refuseCollision(key);
    identities.set(key, typed.identity);
  }
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

function refuseCollision(key: string): never {
  return refuse(`key "${key}" is written twice in different forms (e.g. 80 and "80"); kubectl keeps one of them at random`);
}

// ---- go-yaml v2 decoding of one document -----------------------------------------------------

const ANCHOR_NAME = /^[A-Za-z0-9_-]+$/;

/** go-yaml's guard against alias bombs (decode.go allowedAliasRatio), same thresholds. */
function allowedAliasRatio(decodeCount: number): number {
  if (decodeCount <= 400_000) return 0.99;
  if (decodeCount >= 4_000_000) return 0.1;
  return 0.99 - 0.89 * ((decodeCount - 400_000) / 3_600_000);
}

class GoYamlDecoder {
  private readonly aliases = new Map<Alias, YamlNode>();
  private readonly expanding = new Set<Alias>();
  private decodeCount = 0;
  private aliasCount = 0;
  private aliasDepth = 0;

  constructor(
    root: YamlNode,
    private readonly text: string,
  ) {
    this.bind(root, new Map());
  }

  /** Binds every alias to the latest anchor before it in document order, as go-yaml's parser does. */
  private bind(node: unknown, anchors: Map<string, YamlNode>): void {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) refuse(`unknown anchor '${node.source}' referenced`);
      this.aliases.set(node, target);
      return;
    }
    if (!isScalar(node) && !isMap(node) && !isSeq(node)) return;
    if (node.anchor !== undefined) {
      if (!ANCHOR_NAME.test(node.anchor)) refuse(`anchor name '${node.anchor}': did not find expected alphabetic or numeric character`);
      anchors.set(node.anchor, node);
    }
    if (isMap(node)) {
      for (const pair of node.items) {
        this.bind(pair.key, anchors);
        this.bind(pair.value, anchors);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) this.bind(isPair(item) ? undefined : item, anchors);
    }
  }

  private count(): void {
    this.decodeCount++;
    if (this.aliasDepth > 0) this.aliasCount++;
    if (this.aliasCount > 100 && this.decodeCount > 1000 && this.aliasCount / this.decodeCount > allowedAliasRatio(this.decodeCount)) {
      refuse('document contains excessive aliasing');
    }
  }

  /** Follows an alias, refusing one that contains itself. */
  private follow<T>(node: Alias, use: (target: YamlNode) => T): T {
    if (this.expanding.has(node)) refuse(`anchor '${node.source}' value contains itself`);
    this.expanding.add(node);
    this.aliasDepth++;
    try {
      return use(this.aliases.get(node) as YamlNode);
    } finally {
      this.aliasDepth--;
      this.expanding.delete(node);
    }
  }

  /** The document node counts once in go-yaml's budget, then its root. */
  document(root: YamlNode): unknown {
    this.count();
    return this.value(root);
  }

  value(node: unknown): unknown {
    this.count();
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.follow(node, (target) => this.value(target));
    if (isScalar(node)) return scalarJson(resolveNode(node, this.text));
    if (isSeq(node)) return node.items.map((item) => this.value(item));
    if (isMap(node)) {
      const out: JsonRecord = {};
      this.mapping(node, out, new Map());
      return out;
    }
    return refuse('unsupported YAML node');
  }

  /** The scalar a key decodes to; a mapping or sequence key is refused as go-yaml does. */
  private key(node: unknown): GoScalar {
    this.count();
    if (node === null || node === undefined) return { type: 'null' };
    if (isAlias(node)) return this.follow(node, (target) => this.key(target));
    if (isScalar(node)) return resolveNode(node, this.text);
    return refuse('invalid map key: a mapping or a list cannot be a key');
  }

  /** go-yaml's isMerge: `<<` written plain and untagged, or tagged !!merge; a quoted "<<" is a key. */
  private static isMergeKey(node: unknown): boolean {
    if (!isScalar(node) || node.value !== '<<') return false;
    return (node.type === 'PLAIN' && (node.tag === undefined || node.tag === '!')) || node.tag === MERGE;
  }

  /** Decodes pairs into `out` in order: later keys overwrite, `<<` copies at its position. */
  private mapping(node: YamlNode, out: JsonRecord, identities: Map<string, string>): void {
    if (!isMap(node)) return;
    for (const pair of node.items) {
      if (GoYamlDecoder.isMergeKey(pair.key)) {
        this.merge(pair.value, out, identities);
        continue;
      }
      const key = this.key(pair.key);
      assignKey(out, identities, key, this.value(pair.value));
    }
  }

  private mergeMapping(node: unknown, out: JsonRecord, identities: Map<string, string>): void {
    if (isAlias(node)) {
      const target = this.aliases.get(node);
      if (!isMap(target)) refuse('map merge requires map or sequence of maps as the value');
      this.count();
      this.follow(node, (t) => this.mergeInto(t, out, identities));
      return;
    }
    if (!isMap(node)) refuse('map merge requires map or sequence of maps as the value');
    this.mergeInto(node, out, identities);
  }

  private mergeInto(node: YamlNode, out: JsonRecord, identities: Map<string, string>): void {
    this.count();
    this.mapping(node, out, identities);
  }

  private merge(node: unknown, out: JsonRecord, identities: Map<string, string>): void {
    if (isSeq(node)) {
      // go-yaml steps backwards so that earlier maps take precedence.
      for (let i = node.items.length - 1; i >= 0; i--) this.mergeMapping(node.items[i], out, identities);
      return;
    }
    this.mergeMapping(node, out, identities);
  }
}

// ---- one document ----------------------------------------------------------------------------

const PARSE_OPTIONS = { schema: 'failsafe', version: '1.1', uniqueKeys: false, merge: false, strict: true, prettyErrors: false } as const;
/** Line breaks in YAML 1.1 (go-yaml) but not in YAML 1.2 (the `yaml` package). */
const YAML11_BREAKS = /[\u0085\u2028\u2029]/;
/** go-yaml's reader refuses anything outside YAML's printable set. */
const NON_PRINTABLE = /[^\t\n\r\x20-\x7e\u0085\u00a0-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;

function position(text: string, index: number, firstLine: number): string {
  const before = text.slice(0, index);
  const line = firstLine + (before.match(/\n/g)?.length ?? 0);
  return `line ${line}, column ${index - before.lastIndexOf('\n')}`;
}

/** The first YAML document of a chunk: go-yaml reads one and ignores what follows `...`. */
function firstYamlDocument(doc: RawDocument, lines: LineCounter): Document.Parsed | undefined {
  const composer = new Composer(PARSE_OPTIONS);
  for (const parsed of composer.compose(new Parser(lines.addNewLine).parse(doc.text))) return parsed;
  const directive = /^%/m.exec(doc.text);
  if (directive) refuse(`YAML syntax error at ${position(doc.text, directive.index, doc.line)}: did not find expected <document start> (a directive must be followed by ---)`);
  return undefined;
}

function yamlValue(doc: RawDocument, fastPath = true): unknown {
  const bad = NON_PRINTABLE.exec(doc.text);
  if (bad) {
    const code = (bad[0].codePointAt(0) as number).toString(16).padStart(4, '0');
    refuse(`control characters are not allowed (U+${code.toUpperCase()} at ${position(doc.text, bad.index, doc.line)})`);
  }
  const nel = YAML11_BREAKS.exec(doc.text);
  if (nel) {
    const code = (nel[0].codePointAt(0) as number).toString(16).padStart(4, '0');
    refuse(`U+${code.toUpperCase()} at ${position(doc.text, nel.index, doc.line)} is a line break to kubectl (YAML 1.1) but not to YAML 1.2; write \\n or a real newline`);
  }
  const fast = fastPath ? fastDecode(doc.text) : UNSUPPORTED;
  if (fast !== UNSUPPORTED) return fast;
  const lines = new LineCounter();
  const parsed = firstYamlDocument(doc, lines);
  if (!parsed) return null;
  const error = parsed.errors[0];
  if (error) {
    const first = (error.message.split('\n')[0] ?? error.message).replace(/:$/, '').replace(/ at line \d+, column \d+$/, '');
    const at = lines.linePos(error.pos[0]);
    refuse(`YAML syntax error at line ${doc.line + at.line - 1}, column ${at.col}: ${first}`);
  }
  if (parsed.contents === null) return null;
  return new GoYamlDecoder(parsed.contents, doc.text).document(parsed.contents);
}

/** Go decodes -0 as the integer 0 and refuses numbers beyond float64. */
function normaliseNumbers(value: unknown): unknown {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) refuse('a JSON number is out of range for float64');
    return value === 0 ? 0 : value;
  }
  if (Array.isArray(value)) return value.map(normaliseNumbers);
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) (value as JsonRecord)[k] = normaliseNumbers(v);
  }
  return value;
}

function jsonValue(doc: RawDocument): unknown {
  let value: unknown;
  try {
    value = JSON.parse(doc.text);
  } catch (err) {
    refuse(`JSON syntax error: ${errorMessage(err)}`);
  }
  return normaliseNumbers(value);
}

/** The object kubectl would build from one document; null for an empty one (kubectl skips it). */
export function documentValue(doc: RawDocument): unknown {
  if (doc.json) return jsonValue(doc);
  return yamlValue(doc);
}

/** The same through the `yaml`-package reader only, for tests that compare it with the fast one. */
export function documentValueWithoutFastPath(doc: RawDocument): unknown {
  return doc.json ? jsonValue(doc) : yamlValue(doc, false);
}

