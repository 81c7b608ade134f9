// The glob matcher against a reference matcher, and held to its time bound: the text is
// user-controlled and the pattern the administrator's, so no pattern may make a match slow.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { globMatch, HOST_WILDCARD, type MatchCounter } from '../../src/engine/glob.js';

/** Textbook dynamic-programming glob match: obviously right, O(text × pattern). */
function referenceMatch(glob: string, text: string): boolean {
  let row: boolean[] = Array.from({ length: text.length + 1 }, (_, j) => j === 0);
  for (const g of glob) {
    const next: boolean[] = [g === '*' && (row[0] ?? false)];
    for (let j = 1; j <= text.length; j++) {
      const ch = text[j - 1];
      if (g === '*') next[j] = (row[j] ?? false) || (next[j - 1] ?? false);
      else if (g === '?') next[j] = (row[j - 1] ?? false) && ch !== HOST_WILDCARD;
      else next[j] = (row[j - 1] ?? false) && ch === g;
    }
    row = next;
  }
  return row[text.length] ?? false;
}

/** The bound the matcher promises: at most one comparison per text position per pattern character. */
function bound(glob: string, text: string): number {
  return (text.length + 1) * (glob.length + 1);
}

const globChars = fc.constantFrom('a', 'b', '.', '*', '?');
const textChars = fc.constantFrom('a', 'b', '.', HOST_WILDCARD);

describe('globMatch', () => {
  test('agrees with the reference matcher on random globs and texts, within the step bound', () => {
    fc.assert(
      fc.property(fc.string({ unit: globChars, maxLength: 12 }), fc.string({ unit: textChars, maxLength: 40 }), (glob, text) => {
        const counter: MatchCounter = { steps: 0 };
        assert.equal(globMatch(glob, text, counter), referenceMatch(glob, text), `glob ${JSON.stringify(glob)} text ${JSON.stringify(text)}`);
        assert.ok(counter.steps <= bound(glob, text), `${counter.steps} steps for glob ${JSON.stringify(glob)} text ${JSON.stringify(text)}`);
      }),
      { numRuns: 5000 },
    );
  });

  test('many stars against a 253-character host stay within the bound (a backtracking regex took seconds)', () => {
    const host = Array.from({ length: 127 }, () => 'a').join('.');
    assert.equal(host.length, 253);
    for (const stars of [3, 5, 10, 40]) {
      const glob = `${'*.'.repeat(stars)}example.com`;
      const counter: MatchCounter = { steps: 0 };
      assert.equal(globMatch(glob, host, counter), false);
      assert.ok(counter.steps > 0, 'the matcher counts its comparisons');
      assert.ok(counter.steps <= bound(glob, host), `${stars} stars: ${counter.steps} steps`);
      // Linear in the text: doubling the text at most doubles the work (plus the pattern's length).
      const longer: MatchCounter = { steps: 0 };
      globMatch(glob, `${host}.${host}`, longer);
      assert.ok(longer.steps <= 2 * counter.steps + glob.length + 2, `${stars} stars: ${counter.steps} -> ${longer.steps}`);
    }
  });

  test('? never matches the wildcard-host marker, * does', () => {
    assert.equal(globMatch('?.local', `${HOST_WILDCARD}.local`), false);
    assert.equal(globMatch('*.local', `${HOST_WILDCARD}.local`), true);
  });

  test('plain cases', () => {
    assert.equal(globMatch('legacy-*', 'legacy-billing'), true);
    assert.equal(globMatch('legacy-*', 'legacy'), false);
    assert.equal(globMatch('a*b*c', 'abc'), true);
    assert.equal(globMatch('a*b*c', 'acb'), false);
    assert.equal(globMatch('*', ''), true);
    assert.equal(globMatch('', ''), true);
    assert.equal(globMatch('?', ''), false);
    assert.equal(globMatch('a.b', 'aXb'), false);
  });
});
