// Policy loading: defaults, and errors that name the key path an administrator must fix.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultPolicy } from '../../src/engine/index.js';
import { parsePolicy } from '../../src/policy/load.js';

function errorsOf(text: string): string[] {
  const r = parsePolicy(text, 'policy.yaml');
  assert.equal(r.ok, false, 'expected the policy to be refused');
  return r.ok ? [] : r.errors;
}

describe('parsePolicy', () => {
  test('an empty file is the default policy', () => {
    const r = parsePolicy('', 'p');
    assert.ok(r.ok);
    assert.deepEqual(r.policy, defaultPolicy());
  });
  test('JSON is accepted', () => {
    const r = parsePolicy('{"mode": "audit"}', 'p');
    assert.ok(r.ok && r.policy.mode === 'audit');
  });
  test('a given key replaces its default, others keep theirs', () => {
    const r = parsePolicy('rules:\n  destinationrule-disable:\n    action: warn\n', 'p');
    assert.ok(r.ok);
    assert.equal(r.policy.rules['destinationrule-disable'].action, 'warn');
    assert.deepEqual(r.policy.rules['destinationrule-disable'].allow, defaultPolicy().rules['destinationrule-disable'].allow);
    assert.equal(r.policy.rules['peerauthentication-disable'].action, 'deny');
  });
  test('an unknown key names its path', () => {
    assert.deepEqual(errorsOf('rules:\n  destinationrule-disable:\n    acton: deny\n'), ['policy.yaml: rules.destinationrule-disable.acton: unknown key']);
  });
  test('an unknown rule id names its path', () => {
    assert.deepEqual(errorsOf('rules:\n  peerauthentication-disabled: {}\n'), ['policy.yaml: rules.peerauthentication-disabled: unknown key']);
  });
  test('wrong types name the key path and what was expected', () => {
    const errors = errorsOf('mode: strict\nnamespaces:\n  - match: 3\n    mode: audit\nrules:\n  peerauthentication-disable:\n    allow:\n      - namespace: x\n        ports: [0]\n');
    assert.equal(errors.length, 3);
    assert.match(errors[0] ?? '', /^policy.yaml: mode: .*"enforce"\|"audit"/);
    assert.match(errors[1] ?? '', /^policy.yaml: namespaces\.0\.match: .*expected string/);
    assert.match(errors[2] ?? '', /^policy.yaml: rules\.peerauthentication-disable\.allow\.0\.ports\.0: /);
  });
  test('required allow entry fields are named', () => {
    const errors = errorsOf('rules:\n  destinationrule-disable:\n    allow:\n      - namespace: x\n');
    assert.match(errors.join('\n'), /rules\.destinationrule-disable\.allow\.0\.host: /);
  });
  test('YAML syntax errors name the document', () => {
    assert.match(errorsOf('mode: [enforce\n')[0] ?? '', /^policy.yaml: document 1: /);
  });
  test('two documents are refused', () => {
    assert.match(errorsOf('mode: audit\n---\nmode: enforce\n')[0] ?? '', /holds 2 YAML documents/);
  });
  test('duplicate keys are refused rather than silently overwritten', () => {
    assert.match(errorsOf('mode: audit\nmode: enforce\n')[0] ?? '', /document 1: .*[Mm]ap keys must be unique/);
  });
  test('a top-level non-mapping is refused', () => {
    assert.match(errorsOf('- a\n- b\n')[0] ?? '', /^policy.yaml: \(top level\): /);
  });
});

// Policy keys whose shape protects the server: glob limits, and the workloadKinds list.
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
