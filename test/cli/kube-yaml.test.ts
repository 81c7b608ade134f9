// kubectl's YAML rules (go-yaml v2 through sigs.k8s.io/yaml), without kubectl: each row is what
// the pinned kubectl printed for that document (test/parity checks the same against kubectl
// itself). And the fast reader must agree with the full one wherever it answers.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { splitDocuments } from '../../src/cli/inputs.js';
import { fastDecode, UNSUPPORTED } from '../../src/cli/kube-yaml-fast.js';
import { documentValue, documentValueWithoutFastPath } from '../../src/cli/kube-yaml.js';

function value(yaml: string, fast = true): unknown {
  const { documents, errors } = splitDocuments(yaml, 'x.yaml');
  assert.deepEqual(errors, []);
  const doc = documents[0];
  assert.ok(doc);
  return fast ? documentValue(doc) : documentValueWithoutFastPath(doc);
}

const CASES: [string, string, unknown][] = [
  ['YAML 1.1 booleans', 'a: [y, Y, yes, On, OFF, n, NO, "yes", yES]', { a: [true, true, true, true, false, false, false, 'yes', 'yES'] }],
  ['nulls', 'a: [~, null, Null, NULL, nULL, "null"]\nb:', { a: [null, null, null, null, 'nULL', 'null'], b: null }],
  ['integers', 'a: [0755, 0o17, 0x1F, 0b101, -0b101, 1_000, +12, 08, 09.5, 1:20, 0x, _1]', { a: [493, 15, 31, 5, -5, 1000, 12, 8, 9.5, '1:20', '0x', '_1'] }],
  ['beyond int64', 'a: [9223372036854775808, 18446744073709551616, 0x1FFFFFFFFFFFFFFFF]', { a: [9223372036854775808, 18446744073709551616, '0x1FFFFFFFFFFFFFFFF'] }],
  ['floats', 'a: [.5, -.5, 1e3, 1.e3, 1e-400, 1e400, -0.0, ., .e5, Infinity]', { a: [0.5, -0.5, 1000, 1000, 0, '1e400', 0, '.', '.e5', 'Infinity'] }],
  ['timestamps stay strings', 'a: [2001-12-14, 2001-12-14t21:59:43.10-05:00, !!timestamp 2001-01-01]', { a: ['2001-12-14', '2001-12-14t21:59:43.10-05:00', '2001-01-01'] }],
  ['tags', 'a: [!!str 123, !!int "12", !!float 1, !foo 123, ! 123, !!binary aGVsbG8=, !!null ""]', { a: ['123', 12, 1, '123', '123', 'hello', null] }],
  ['keys made strings', '80: a\n1.5: b\n1e3: c\n123456789.0: d\nyes: e\n.inf: f\n0x10: g', { '80': 'a', '1.5': 'b', '1000': 'c', '1.2345679e+08': 'd', true: 'e', '.inf': 'f', '16': 'g' }],
  ['the last duplicate wins', 'a: 1\na: 2\nb: {80: x, 0x50: y}\nc: {yes: 1, on: 2}', { a: 2, b: { '80': true }, c: { true: 2 } }],
  ['merge keys apply where they stand', 'base: &l {app: r, tier: b}\nafter: {<<: *l, tier: f}\nbefore: {tier: f, <<: *l}\nlist: {<<: [{a: 1, b: 1}, {a: 2, c: 2}]}\nquoted: {"<<": 1}', {
    base: { app: 'r', tier: 'b' },
    after: { app: 'r', tier: 'f' },
    before: { app: 'r', tier: 'b' },
    list: { a: 1, b: 1, c: 2 },
    quoted: { '<<': 1 },
  }],
  ['aliases take the latest anchor', 'a: &s one\nb: &s two\nc: *s\n*s : k', { a: 'one', b: 'two', c: 'two', two: 'k' }],
  ['what follows ... is ignored', 'a: 1\n...\nb: [', { a: 1 }],
  ['__proto__ is a plain key', '__proto__: {polluted: yes}', JSON.parse('{"__proto__": {"polluted": true}}')],
];

const REFUSED: [string, string, RegExp][] = [
  ['.nan', 'a: .nan', /unsupported value: NaN/],
  ['-.inf', 'a: -.Inf', /unsupported value: -Inf/],
  ['a null key', '~: a', /unsupported map key of type: <nil>/],
  ['a uint64 key', '18446744073709551615: a', /unsupported map key of type: uint64/],
  ['a list key', '? [a]\n: b', /invalid map key/],
  ['80 and "80"', 'a: {80: x, "80": y}', /written twice in different forms/],
  ['"true" and yes', 'a: {"true": x, yes: y}', /written twice in different forms/],
  ['1 and 1.0', 'a: {1: x, 1.0: y}', /written twice in different forms/],
  ['a bad tag', 'a: !!int abc', /cannot decode !!str `abc` as a !!int/],
  ['an alias to nothing', 'a: *x', /unknown anchor 'x' referenced/],
  ['an alias inside its anchor', 'a: &d {b: *d}', /anchor 'd' value contains itself/],
  ['a merge of a scalar', 'a: &s x\nb: {<<: *s}', /map merge requires map or sequence of maps/],
  ['an anchor name go-yaml cannot read', 'a: &a.b x', /did not find expected alphabetic or numeric character/],
  ['\\/ (YAML 1.2 only)', 'a: "\\/"', /unknown escape character/],
  ['a surrogate escape', 'a: "\\ud800"', /invalid Unicode character escape code/],
  ['a directive without ---', '%YAML 1.1\n', /did not find expected <document start>/],
  ['alias expansion beyond go-yaml\'s budget', `a: &a [${'x,'.repeat(9)}x]\n${'bcdefg'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefg'[i]}`).join(',')}]`).join('\n')}`, /excessive aliasing/],
];

describe('go-yaml v2 rules', () => {
  for (const [name, yaml, expected] of CASES) {
    test(name, () => {
      assert.deepStrictEqual(value(yaml), expected);
      assert.deepStrictEqual(value(yaml, false), expected);
    });
  }
  for (const [name, yaml, pattern] of REFUSED) {
    test(`refused: ${name}`, () => assert.throws(() => value(yaml), pattern));
  }
});

/** Documents in the shapes the fast reader handles and just outside them. */
const scalarText = fc.oneof(
  fc.constantFrom('yes', 'no', 'on', 'Off', '~', 'null', '0755', '0x1F', '1_000', '.5', '1e3', '2001-12-14', '-', '-1', 'a: b', 'a #b', 'a#b', "it's", 'x"y', '', ' lead', 'trail ', '\\', 'é', '#', ':', '[a]', '{}', '&a', '*a', '!t', '|', '>', '%', '@', '`', '?x', '- x'),
  fc.string({ maxLength: 12 }),
);
const key = fc.oneof(scalarText, fc.integer(), fc.constantFrom(80, 1.5, true));
const tree: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, scalarText, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), tie('list'), tie('map')),
  list: fc.array(tie('node'), { maxLength: 4 }),
  map: fc.array(fc.tuple(key, tie('node')), { maxLength: 4 }).map((pairs) => new Map(pairs)),
})).node;
const styles = fc.record({
  flow: fc.boolean(),
  quote: fc.constantFrom('PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE', 'BLOCK_LITERAL', 'BLOCK_FOLDED'),
  indentSeq: fc.boolean(),
  indent: fc.constantFrom(2, 4),
});

function outcome(read: () => unknown): unknown {
  try {
    return { value: read() };
  } catch (err) {
    return { refused: true, message: (err as Error).message.length > 0 };
  }
}

describe('the fast reader agrees with the full one', () => {
  test('on every corpus and fixture document it reads', () => {
    const root = join(import.meta.dirname, '..');
    let compared = 0;
    for (const dir of [join(root, 'parity', 'corpus'), join(root, 'fixtures', 'cli')]) {
      for (const name of readdirSync(dir).filter((n) => /\.(ya?ml|json)$/.test(n))) {
        const { documents } = splitDocuments(readFileSync(join(dir, name), 'utf8'), name);
        for (const doc of documents.filter((d) => !d.json)) {
          if ((outcome(() => fastDecode(doc.text)) as { value?: unknown }).value === UNSUPPORTED) continue;
          compared++;
          assert.deepStrictEqual(outcome(() => documentValue(doc)), outcome(() => documentValueWithoutFastPath(doc)), `${name} document ${doc.number}`);
        }
      }
    }
    assert.ok(compared >= 20, `only ${compared} documents took the fast reader`);
  });

  test('on generated documents in many styles', () => {
    let fastCount = 0;
    fc.assert(
      fc.property(tree, styles, (data, style) => {
        const text = stringify(data, {
          version: '1.1',
          defaultStringType: style.quote,
          defaultKeyType: 'PLAIN',
          collectionStyle: style.flow ? 'flow' : 'any',
          indentSeq: style.indentSeq,
          indent: style.indent,
          lineWidth: 0,
        });
        const doc = { number: 1, line: 1, text, json: false };
        if ((outcome(() => fastDecode(text)) as { value?: unknown }).value === UNSUPPORTED) return;
        fastCount++;
        assert.deepStrictEqual(outcome(() => documentValue(doc)), outcome(() => documentValueWithoutFastPath(doc)), text);
      }),
      { numRuns: 3000 },
    );
    assert.ok(fastCount > 500, `only ${fastCount} generated documents took the fast reader`);
  });
});
