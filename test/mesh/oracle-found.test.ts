// Every disagreement the Istio oracle found between the mesh model and Istio's own code is a
// fixture under test/fixtures/mesh/oracle-found/ with Istio's answer; the model must give that
// answer without the oracle (so `npm test` keeps them fixed on any machine).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { z } from 'zod';
import { defaultPolicy } from '../../src/engine/index.js';
import { MeshModel, type Flow } from '../../src/mesh/index.js';

const caseSchema = z.object({
  description: z.string(),
  objects: z.array(z.unknown()),
  query: z.strictObject({
    clientNamespace: z.string(),
    clientLabels: z.record(z.string(), z.string()).optional(),
    host: z.string(),
    port: z.number(),
    subset: z.string(),
  }),
  istio: z.object({
    destinationRules: z.array(z.string()),
    clientTls: z.string().nullable(),
    outcome: z.string().optional(),
  }),
});

const dir = join(import.meta.dirname, '..', 'fixtures', 'mesh', 'oracle-found');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

/** The flows a client in the queried namespace with the queried labels (none: {}) makes to the
 * queried host/port/subset: a group whose workloadSelector selects the client, else the catch-all. */
function flowsFor(flows: readonly Flow[], q: z.output<typeof caseSchema>['query']): Flow[] {
  const labels = q.clientLabels ?? {};
  const known = flows.some((f) => f.clients.namespaces.includes(q.clientNamespace));
  const target = flows.filter(
    (f) => f.host === q.host && f.servicePort === q.port && (f.subset ?? '') === q.subset && (known ? f.clients.namespaces.includes(q.clientNamespace) : f.clients.otherNamespaces),
  );
  const selected = target.filter((f) => f.clients.workloadSelector && Object.entries(f.clients.workloadSelector).every(([k, v]) => labels[k] === v));
  return selected.length ? selected : target.filter((f) => !f.clients.workloadSelector);
}

describe('disagreements the Istio oracle found stay fixed', () => {
  test('there are oracle-found fixtures', () => assert.ok(files.length > 0));
  for (const file of files) {
    test(file, () => {
      const c = caseSchema.parse(parse(readFileSync(join(dir, file), 'utf8')));
      const model = MeshModel.build(c.objects, defaultPolicy());
      const flows = flowsFor(model.flows(), c.query);
      assert.ok(flows.length > 0, `no flow for ${JSON.stringify(c.query)}`);
      for (const f of flows) {
        assert.deepEqual(
          f.destinationRules.map((r) => `${r.namespace}/${r.name}`),
          c.istio.destinationRules,
          c.description,
        );
        assert.equal(f.clientTls, c.istio.clientTls ?? 'AUTO');
        if (c.istio.outcome) assert.equal(f.outcome, c.istio.outcome);
      }
    });
  }
});
