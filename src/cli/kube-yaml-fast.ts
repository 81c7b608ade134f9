// A fast reader for the YAML most manifests are written in: block mappings and sequences, one-line
// plain and quoted scalars, `|` and `>` block scalars, one-line flow collections, comments. It
// resolves scalars and keys with the same go-yaml v2 rules as the full reader (kube-yaml.ts) and
// gives up (UNSUPPORTED) on anything else: anchors, aliases, tags, merge keys, complex keys,
// multi-line plain or quoted scalars, tabs, directives, `...`, and every error, so that the full
// reader decides those (and words the errors). Giving up is always safe; a wrong answer is not,
// which is why test/cli/kube-yaml-fast.test.ts compares both readers on generated documents.
import { assignKey, resolveScalar, scalarJson, type GoScalar, type JsonRecord } from './kube-yaml.js';

export const UNSUPPORTED = Symbol('unsupported');

class GiveUp extends Error {}
const GIVE_UP = new GiveUp();

function giveUp(): never {
  throw GIVE_UP;
}

const ESCAPES: Record<string, string> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b', ' ': ' ', '"': '"', '\\': '\\',
  N: '\u0085', _: '\u00a0', L: '\u2028', P: '\u2029',
};
const HEX_LENGTH: Record<string, number> = { x: 2, u: 4, U: 8 };
/** Characters a plain scalar may not start with (YAML indicators), besides `-?:` before a space. */
const PLAIN_START_INDICATOR = /^[[\]{}#&*!|>'"%@`,]/;
/** What may follow a value on its line: spaces, then a comment that a space separates. */
const LINE_END = /^(?: +#.*| *)$/;

function indentOf(line: string): number {
  let n = 0;
  while (line.charCodeAt(n) === 0x20) n++;
  return n;
}

/** Comment-only or blank. */
function isBlank(line: string, indent: number): boolean {
  return indent === line.length || line.charCodeAt(indent) === 0x23;
}

/** A one-line quoted scalar starting at `from`: its value and where it ends. */
function quoted(s: string, from: number): { text: string; end: number } {
  const q = s[from];
  let text = '';
  for (let i = from + 1; i < s.length; i++) {
    const c = s[i] as string;
    if (q === "'") {
      if (c !== "'") text += c;
      else if (s[i + 1] === "'") {
        text += "'";
        i++;
      } else return { text, end: i + 1 };
      continue;
    }
    if (c === '"') return { text, end: i + 1 };
    if (c !== '\\') {
      text += c;
      continue;
    }
    const e = s[++i] as string;
    const simple = ESCAPES[e];
    if (simple !== undefined) {
      text += simple;
      continue;
    }
    const length = HEX_LENGTH[e];
    const hex = length ? s.slice(i + 1, i + 1 + length) : '';
    if (!length || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== length) giveUp();
    const code = parseInt(hex, 16);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) giveUp();
    text += String.fromCodePoint(code);
    i += length;
  }
  return giveUp(); // continues on the next line
}

/** A one-line flow collection or flow scalar. */
class FlowReader {
  pos = 0;
  constructor(private readonly s: string) {}

  private spaces(): void {
    while (this.s[this.pos] === ' ') this.pos++;
  }

  private scalar(): GoScalar {
    const c = this.s[this.pos];
    if (c === '"' || c === "'") {
      const q = quoted(this.s, this.pos);
      this.pos = q.end;
      return resolveScalar(q.text, false, '');
    }
    const m = /^[^,[\]{}:#?"'&*!|>%@`\s-][^,[\]{}:#?]*/.exec(this.s.slice(this.pos));
    if (!m) giveUp();
    this.pos += m[0].length;
    return resolveScalar(m[0].trimEnd(), true, '');
  }

  value(): unknown {
    this.spaces();
    const c = this.s[this.pos];
    if (c === '[') {
      this.pos++;
      const out: unknown[] = [];
      this.spaces();
      if (this.s[this.pos] === ']') {
        this.pos++;
        return out;
      }
      for (;;) {
        out.push(this.value());
        this.spaces();
        const d = this.s[this.pos++];
        if (d === ']') return out;
        if (d !== ',') giveUp();
      }
    }
    if (c === '{') {
      this.pos++;
      const out: JsonRecord = {};
      const identities = new Map<string, string>();
      this.spaces();
      if (this.s[this.pos] === '}') {
        this.pos++;
        return out;
      }
      for (;;) {
        this.spaces();
        const key = this.scalar();
        if (this.s[this.pos] !== ':' || this.s[this.pos + 1] !== ' ') giveUp();
        this.pos += 2;
        assignKey(out, identities, key, this.value());
        this.spaces();
        const d = this.s[this.pos++];
        if (d === '}') return out;
        if (d !== ',') giveUp();
      }
    }
    return scalarJson(this.scalar());
  }
}

class FastReader {
  private i = 0;

  constructor(private readonly lines: string[]) {}

  /** Moves to the next line with content; its indentation, or -1 at the end. */
  private next(): number {
    for (; this.i < this.lines.length; this.i++) {
      const line = this.lines[this.i] as string;
      const indent = indentOf(line);
      if (!isBlank(line, indent)) return indent;
    }
    return -1;
  }

  document(): unknown {
    if (this.next() < 0) return null;
    const value = this.node(-1);
    if (this.next() >= 0) giveUp();
    return value;
  }

  /** The node on the current line, which is indented more than `parent`. */
  private node(parent: number): unknown {
    const line = this.lines[this.i] as string;
    const indent = indentOf(line);
    const content = line.slice(indent);
    if (content === '-' || content.startsWith('- ')) return this.sequence(indent);
    if (FastReader.key(content)) return this.mapping(indent);
    return this.inline(content, parent);
  }

  /** The key at the start of `content` and the text after its `:`, or undefined if not a key. */
  private static key(content: string): { key: GoScalar; rest: string } | undefined {
    const c = content[0];
    if (c === '"' || c === "'") {
      const q = quoted(content, 0);
      const m = /^ *:(?= |$)/.exec(content.slice(q.end));
      return m ? { key: resolveScalar(q.text, false, ''), rest: content.slice(q.end + m[0].length) } : undefined;
    }
    if (PLAIN_START_INDICATOR.test(content) || /^[-?:](?: |$)/.test(content)) return undefined;
    const colon = content.search(/:(?: |$)/);
    if (colon < 0) return undefined;
    const text = content.slice(0, colon).trimEnd();
    if (text.includes(' #') || text === '<<' || text.length > 1024) giveUp();
    return { key: resolveScalar(text, true, ''), rest: content.slice(colon + 1) };
  }

  private mapping(indent: number): JsonRecord {
    const out: JsonRecord = {};
    const identities = new Map<string, string>();
    for (let at = this.next(); at >= 0; at = this.next()) {
      if (at < indent) break;
      if (at > indent) giveUp();
      const entry = FastReader.key((this.lines[this.i] as string).slice(indent)) ?? giveUp();
      assignKey(out, identities, entry.key, this.value(entry.rest, indent, true));
    }
    return out;
  }

  private sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    for (let at = this.next(); at >= 0; at = this.next()) {
      if (at < indent) break;
      if (at > indent) giveUp();
      const line = this.lines[this.i] as string;
      const content = line.slice(indent);
      if (content !== '-' && !content.startsWith('- ')) break;
      const after = content.slice(1);
      const rest = after.trimStart();
      if (rest !== '' && rest[0] !== '#' && (rest === '-' || rest.startsWith('- ') || FastReader.key(rest))) {
        // A compact collection (`- name: x`): the same line, read as if indented to its column.
        this.lines[this.i] = ' '.repeat(indent + 1 + after.length - rest.length) + rest;
        out.push(this.node(indent));
        continue;
      }
      out.push(this.value(after, indent, false));
    }
    return out;
  }

  /**
   * A value after `key:` or `-` (`rest` is the text after the indicator) whose parent is indented
   * `indent`: on the same line, on the following more indented lines, or (for a mapping value) a
   * sequence at the key's own indentation, as `kubectl get -o yaml` writes them.
   */
  private value(rest: string, indent: number, inMapping: boolean): unknown {
    const text = rest.trimStart();
    if (text !== '' && rest[0] !== ' ') giveUp();
    if (text === '' || text[0] === '#') {
      this.i++;
      const at = this.next();
      if (at > indent) return this.node(indent);
      const content = at === indent ? (this.lines[this.i] as string).slice(indent) : '';
      if (inMapping && (content === '-' || content.startsWith('- '))) return this.sequence(indent);
      return null;
    }
    return this.inline(text, indent);
  }

  /** A scalar or flow collection starting on the current line; nothing may continue it below. */
  private inline(text: string, parent: number): unknown {
    const c = text[0];
    if (c === '|' || c === '>') return this.blockScalar(text, parent);
    let value: unknown;
    if (c === '[' || c === '{') {
      const flow = new FlowReader(text);
      value = flow.value();
      if (!LINE_END.test(text.slice(flow.pos))) giveUp();
    } else if (c === '"' || c === "'") {
      const q = quoted(text, 0);
      if (!LINE_END.test(text.slice(q.end))) giveUp();
      value = scalarJson(resolveScalar(q.text, false, ''));
    } else {
      if (PLAIN_START_INDICATOR.test(text) || /^[-?:](?: |$)/.test(text)) giveUp();
      const comment = text.indexOf(' #');
      const plain = (comment < 0 ? text : text.slice(0, comment)).trimEnd();
      if (/: |:$/.test(plain)) giveUp();
      value = scalarJson(resolveScalar(plain, true, ''));
    }
    this.i++;
    if (this.next() > parent) giveUp(); // a multi-line scalar, or an error
    return value;
  }

  /** `|`, `|-`, `>`, `>-` with automatic indentation; `+` and explicit indentation give up. */
  private blockScalar(header: string, parent: number): string {
    const m = /^([|>])(-?)(?: +#.*| *)$/.exec(header);
    if (!m) giveUp();
    const [, style, chomp] = m;
    this.i++;
    const body: string[] = [];
    let indent = -1;
    let blankWidth = 0;
    let end = this.i;
    for (let j = this.i; j < this.lines.length; j++) {
      const line = this.lines[j] as string;
      const at = indentOf(line);
      if (at === line.length) {
        if (indent < 0) blankWidth = Math.max(blankWidth, line.length);
        body.push(line);
        continue;
      }
      if (indent < 0) {
        if (at <= parent) break;
        if (blankWidth > at) giveUp();
        indent = at;
      }
      if (at < indent) break;
      body.push(line);
      end = j + 1;
    }
    const content = body.slice(0, Math.max(0, end - this.i)).map((l) => (l.length > indent ? l.slice(indent) : ''));
    this.i = end;
    if (indent < 0) return '';
    let text: string;
    if (style === '|') text = content.join('\n');
    else {
      if (content.some((l) => l.startsWith(' '))) giveUp(); // more-indented lines fold differently
      text = '';
      let breaks = 0;
      let first = true;
      for (const l of content) {
        if (l === '') {
          breaks++;
          continue;
        }
        text += first ? '\n'.repeat(breaks) : breaks === 0 ? ' ' : '\n'.repeat(breaks);
        text += l;
        breaks = 0;
        first = false;
      }
    }
    return chomp === '-' ? text : `${text}\n`;
  }
}

/** The value of one document if it is in the plain block style, or UNSUPPORTED. */
export function fastDecode(text: string): unknown {
  if (/[\t\r\ufeff]|^(?:\.\.\.|%)/m.test(text)) return UNSUPPORTED;
  try {
    return new FastReader(text.split('\n')).document();
  } catch (err) {
    // GiveUp, and errors too: the full reader words them.
    void err;
    return UNSUPPORTED;
  }
}
