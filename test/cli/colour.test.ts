// When `check` colours its text output: only for a terminal, never with NO_COLOR or --no-color.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { palette, useColour } from '../../src/cli/colour.js';
import { formatText } from '../../src/cli/format-text.js';
import { checkManifest } from '../../src/cli/judge.js';
import { parseManifests } from '../../src/cli/manifests.js';
import { defaultPolicy } from '../../src/engine/index.js';

test('colour needs a TTY, NO_COLOR unset or empty, and no --no-color', () => {
  assert.equal(useColour({ isTTY: true }, {}, true), true);
  assert.equal(useColour({ isTTY: true }, { NO_COLOR: '' }, true), true);
  assert.equal(useColour({ isTTY: true }, { NO_COLOR: '1' }, true), false);
  assert.equal(useColour({ isTTY: true }, {}, false), false);
  assert.equal(useColour({ isTTY: false }, {}, true), false);
  assert.equal(useColour({}, {}, true), false);
});

test('the text format colours the verdict only when asked', () => {
  const { manifests, errors } = parseManifests(
    'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p, namespace: ns}\nspec: {mtls: {mode: DISABLE}}\n',
    'in.yaml',
  );
  assert.deepEqual(errors, []);
  const checked = manifests.map((m) => checkManifest(m, defaultPolicy(), 'default'));
  const coloured = formatText(checked, palette(true));
  const plain = formatText(checked, palette(false));
  assert.ok(coloured.includes('\u001b[31m'), 'red DENIED');
  assert.ok(!plain.includes('\u001b'));
  // eslint-disable-next-line no-control-regex
  assert.equal(coloured.replace(/\u001b\[\d+m/g, ''), plain);
});
