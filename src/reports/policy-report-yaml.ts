// A small block-style YAML writer for the reports `scan -o policyreport` prints: maps, lists,
// strings, numbers and booleans only. The `yaml` package took 17 s for the 20 MB of reports of a
// 10,000-Service mesh; this takes well under one. A string is written plain only when every YAML
// reader (1.1 as kubectl's go-yaml v2, or 1.2) reads it back as that same string; anything else is
// double-quoted with JSON escapes, which are valid YAML escapes.

/** JSON values: maps, lists, strings, numbers, booleans, null; `undefined` entries are left out. */
type YamlValue = unknown;
type YamlMap = { readonly [key: string]: unknown };

const PLAIN = /^[A-Za-z][A-Za-z0-9._/-]*(?: [A-Za-z0-9._/()-]+)*$/;
/** YAML 1.1 booleans and nulls (go-yaml v2 resolves these), in any case kubectl accepts. */
const RESERVED = /^(?:y|yes|n|no|on|off|true|false|null|~)$/i;

function scalar(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'string') return String(value);
  return PLAIN.test(value) && !RESERVED.test(value) ? value : JSON.stringify(value);
}

function key(k: string): string {
  return PLAIN.test(k) && !RESERVED.test(k) && !k.includes(' ') ? k : JSON.stringify(k);
}

function isList(value: YamlValue): value is readonly YamlValue[] {
  return Array.isArray(value);
}

function isMap(value: YamlValue): value is YamlMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function entries(map: YamlMap): [string, YamlValue][] {
  return Object.entries(map).filter((e) => e[1] !== undefined);
}

/** `value` as the lines after `key:` (or after `- `), at `indent` spaces. */
function write(value: YamlValue, indent: string, out: string[], first: string): void {
  if (isList(value)) {
    if (value.length === 0) return void out.push(`${first} []`);
    out.push(first);
    for (const item of value) writeItem(item, `${indent}  `, out);
    return;
  }
  if (isMap(value)) {
    const list = entries(value);
    if (list.length === 0) return void out.push(`${first} {}`);
    out.push(first);
    for (const [k, v] of list) write(v, `${indent}  `, out, `${indent}  ${key(k)}:`);
    return;
  }
  out.push(`${first} ${scalar(value)}`);
}

/** One list item: `- ` then, for a map, its first entry on the same line. */
function writeItem(item: YamlValue, indent: string, out: string[]): void {
  if (isMap(item) && entries(item).length > 0) {
    const list = entries(item);
    list.forEach(([k, v], i) => write(v, `${indent}  `, out, `${indent}${i === 0 ? '- ' : '  '}${key(k)}:`));
    return;
  }
  if (isList(item) && item.length > 0) {
    out.push(`${indent}-`);
    for (const inner of item) writeItem(inner, `${indent}  `, out);
    return;
  }
  write(item, indent, out, `${indent}-`);
}

/** One map as a YAML document body (no `---`), newline-terminated. Throws nothing. */
export function yamlDocument(map: object): string {
  const out: string[] = [];
  for (const [k, v] of entries(map as YamlMap)) write(v, '', out, `${key(k)}:`);
  return `${out.join('\n')}\n`;
}
