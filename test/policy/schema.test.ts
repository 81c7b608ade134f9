// Policy keys whose shape protects the server: glob limits, and the workloadKinds list.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parsePolicy } from '../../src/policy/load.js';

function errorsOf(text: string): string[] {
  const r = parsePolicy(text, 'policy.yaml');
  assert.equal(r.ok, false, 'expected the policy to be refused');
  return r.ok ? [] : r.errors;
}

describe('globs in the policy', () => {
  test('an absurdly long glob is refused with its key path', () => {
    const glob = '*.'.repeat(300) + 'example.com';
    assert.deepEqual(errorsOf(`rules:\n  destinationrule-disable:\n    allow:\n      - host: "${glob}"\n`), [
      'policy.yaml: rules.destinationrule-disable.allow.0.host: must be at most 512 characters',
    ]);
  });
  test('control characters are refused', () => {
    assert.deepEqual(errorsOf('exempt:\n  users: ["ci\\u0000bot"]\n'), ['policy.yaml: exempt.users.0: must not contain control characters']);
  });
  test('a glob of many stars under the cap is accepted', () => {
    assert.ok(parsePolicy('namespaces:\n  - {match: "*-*-*-*-*-*", mode: audit}\n').ok);
  });
});

describe('workloadKinds', () => {
  test('entries are read with their template path', () => {
    const r = parsePolicy('workloadKinds:\n  - {group: platform.example.com, kind: WebApp, resource: webapps, templatePath: spec.podTemplate}\n');
    assert.ok(r.ok);
    assert.deepEqual(r.policy.workloadKinds, [{ group: 'platform.example.com', kind: 'WebApp', resource: 'webapps', templatePath: 'spec.podTemplate' }]);
  });
  test('the default is none', () => {
    const r = parsePolicy('mode: audit\n');
    assert.ok(r.ok);
    assert.deepEqual(r.policy.workloadKinds, []);
  });
  test('a malformed template path and a missing resource name their key paths', () => {
    assert.deepEqual(errorsOf('workloadKinds:\n  - {group: x.io, kind: App, templatePath: "spec..template"}\n'), [
      'policy.yaml: workloadKinds.0.resource: Invalid input: expected string, received undefined',
      'policy.yaml: workloadKinds.0.templatePath: must be a dotted key path to the pod template, e.g. spec.template',
    ]);
  });
});
