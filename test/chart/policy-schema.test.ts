// The chart carries the policy twice: its JSON schema and its defaults in values.yaml. Both are
// held to the server's own schema here, so they cannot drift from it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { defaultPolicy } from '../../src/engine/index.js';
import { policyFromObject } from '../../src/policy/load.js';
import { VALUES_SCHEMA, valuesSchemaText } from '../../scripts/chart-policy-schema.js';

test("values.schema.json's policy section is generated from the policy schema (npm run chart:schema)", () => {
  assert.equal(readFileSync(VALUES_SCHEMA, 'utf8'), valuesSchemaText(), 'run `npm run chart:schema` and commit the result');
});

test("values.yaml's policy is exactly the built-in default policy", () => {
  const values = parse(readFileSync(join(import.meta.dirname, '..', '..', 'charts', 'mtls-guard', 'values.yaml'), 'utf8')) as { policy: unknown };
  const loaded = policyFromObject(values.policy);
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
  assert.deepEqual(loaded.policy, defaultPolicy());
  // Every key is written out, so the chart documents the whole policy.
  assert.deepEqual(values.policy, defaultPolicy());
});
