// Writes the `policy` section of charts/mtls-guard/values.schema.json from the policy schema the
// server uses (src/engine/policy-schema.ts), so a policy that helm accepts is one the server
// accepts, and a new rule or key reaches the chart without a hand edit. Run after changing the
// policy schema: `npm run chart:schema`; test/chart/policy-schema.test.ts fails until you do.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { policySchema } from '../src/engine/index.js';

export const VALUES_SCHEMA = join(import.meta.dirname, '..', 'charts', 'mtls-guard', 'values.schema.json');
const DESCRIPTION =
  'The policy file (README "Policy file"), generated from the server\'s own schema by `npm run chart:schema`: a bad policy fails at helm install instead of being refused by the server.';

/** The JSON Schema (draft-07, which helm reads) of a policy file as written: every key optional. */
export function policyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(policySchema, { io: 'input', target: 'draft-7' }) as Record<string, unknown>;
  delete schema['$schema'];
  return { ...schema, description: DESCRIPTION };
}

/** values.schema.json with its `policy` section replaced by {@link policyJsonSchema}, as text. */
export function valuesSchemaText(): string {
  const values = JSON.parse(readFileSync(VALUES_SCHEMA, 'utf8')) as { properties: Record<string, unknown> };
  values.properties['policy'] = policyJsonSchema();
  return `${JSON.stringify(values, null, 2)}\n`;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  writeFileSync(VALUES_SCHEMA, valuesSchemaText());
  process.stdout.write(`wrote the policy section of ${VALUES_SCHEMA}\n`);
}
