// Table-driven rule tests: every YAML file under test/fixtures/rules is one case with its
// expected verdict, so adding a case is adding a file.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import jsonpatch from 'fast-json-patch';
import { parse, parseAllDocuments } from 'yaml';
import { MeshModel } from '../../src/mesh/index.js';
import { z } from 'zod';
import { evaluate, splitApiVersion, type Decision, type EngineRequest } from '../../src/engine/index.js';
import { dig } from '../../src/engine/read.js';
import { admissionStatus, auditAnnotations } from '../../src/admission/response.js';
import { policyFromObject } from '../../src/policy/load.js';

// Fixtures are read through a strict schema, so a misspelled expectation key fails the case
// instead of being ignored (and the case silently asserting less).
const objectSchema = z.record(z.string(), z.unknown());
const caseSchema = z.strictObject({
  name: z.string().min(1),
  policy: z.unknown().optional(),
  options: z.strictObject({ validate: z.boolean(), mutate: z.boolean() }).optional(),
  /** The mesh around the request, for the mesh-aware rules: shared manifest files under
   * test/fixtures/mesh/ and objects of the case's own. Absent: judged alone (mesh rules skipped). */
  mesh: z
    .strictObject({ include: z.array(z.string()).default([]), objects: z.array(objectSchema).default([]) })
    .optional(),
  request: z.strictObject({
    operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']).optional(),
    namespace: z.string().optional(),
    user: z.strictObject({ username: z.string().optional(), groups: z.array(z.string()).optional() }).optional(),
    object: objectSchema.nullable(),
    oldObject: objectSchema.optional(),
  }),
  expect: z.strictObject({
    allowed: z.boolean(),
    code: z.number().optional(),
    mode: z.enum(['enforce', 'audit']).optional(),
    skipped: z.boolean().optional(),
    violations: z
      .array(z.strictObject({ rule: z.string(), action: z.string(), path: z.string(), value: z.string().optional(), downgrade: z.string().optional() }))
      .optional(),
    messageContains: z.array(z.string()).optional(),
    warningsContain: z.array(z.string()).optional(),
    noWarnings: z.boolean().optional(),
    auditAnnotations: z.record(z.string(), z.string()).optional(),
    /** Pod-template annotations after applying the returned patch; null means no patch. */
    templateAnnotations: z.record(z.string(), z.string()).nullable().optional(),
    patchPaths: z.array(z.string()).optional(),
  }),
});
type Case = z.output<typeof caseSchema>;

const dir = join(import.meta.dirname, '..', 'fixtures', 'rules');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
const meshDir = join(import.meta.dirname, '..', 'fixtures', 'mesh');

function meshOf(c: Case, policy: Parameters<typeof MeshModel.build>[1]): MeshModel | undefined {
  if (!c.mesh) return undefined;
  const included = c.mesh.include.flatMap((f) => parseAllDocuments(readFileSync(join(meshDir, f), 'utf8')).map((d) => d.toJS() as unknown));
  return MeshModel.build([...included, ...c.mesh.objects], policy);
}

function requestOf(c: Case): EngineRequest {
  const source = c.request.object ?? c.request.oldObject ?? {};
  const { group, version } = splitApiVersion(String(source['apiVersion']));
  const metadata = (source['metadata'] ?? {}) as Record<string, string>;
  const req: EngineRequest = {
    kind: { group, version, kind: String(source['kind']) },
    operation: c.request.operation ?? 'CREATE',
    namespace: c.request.namespace ?? metadata['namespace'] ?? 'default',
    name: metadata['name'] ?? '',
    object: c.request.object,
  };
  if (c.request.oldObject) req.oldObject = c.request.oldObject;
  if (c.request.user) req.user = c.request.user;
  return req;
}

function templateAnnotations(object: unknown, decision: Decision): Record<string, string> | null {
  if (decision.patch.length === 0) return null;
  const patched: unknown = jsonpatch.applyPatch(structuredClone(object), decision.patch, true, false).newDocument;
  const template = dig(patched, 'spec', 'template') ?? dig(patched, 'spec', 'jobTemplate', 'spec', 'template');
  return (dig(template, 'metadata', 'annotations') ?? {}) as Record<string, string>;
}

test('there are rule fixtures', () => assert.ok(files.length >= 40, `only ${files.length} fixtures`));

describe('rule fixtures', () => {
  for (const file of files) {
    const parsed = caseSchema.safeParse(parse(readFileSync(join(dir, file), 'utf8')));
    const c: Case = parsed.success ? parsed.data : { name: '(unreadable)', request: { object: null }, expect: { allowed: true } };
    test(`${file}: ${c.name}`, () => {
      assert.ok(parsed.success, `${file} is not a valid case: ${parsed.success ? '' : z.prettifyError(parsed.error)}`);
      const policy = policyFromObject(c.policy ?? null);
      assert.ok(policy.ok, policy.ok ? '' : policy.errors.join('\n'));
      const mesh = meshOf(c, policy.policy);
      const decision = evaluate(requestOf(c), policy.policy, { ...(c.options ?? { validate: true, mutate: true }), ...(mesh ? { mesh } : {}) });
      const status = admissionStatus(decision);
      const e = c.expect;
      assert.equal(decision.allowed, e.allowed, `allowed; status: ${status?.message ?? '-'}`);
      if (e.code !== undefined) assert.equal(status?.code, e.code);
      if (!e.allowed && e.code === undefined) assert.equal(status?.code, 403);
      if (e.allowed) assert.equal(status, undefined);
      if (e.mode) assert.equal(decision.mode, e.mode);
      if (e.skipped !== undefined) assert.equal(decision.skipped !== undefined, e.skipped, `skipped: ${decision.skipped}`);
      if (e.violations) {
        const got = decision.violations.map((v) => ({
          rule: v.rule,
          action: v.action,
          path: v.path,
          ...(e.violations?.some((x) => x.value !== undefined) ? { value: v.value } : {}),
          ...(v.downgrade ? { downgrade: v.downgrade } : {}),
        }));
        assert.deepEqual(got, e.violations);
      }
      for (const text of e.messageContains ?? []) assert.ok(status?.message.includes(text), `message lacks ${JSON.stringify(text)}:\n${status?.message}`);
      for (const text of e.warningsContain ?? []) {
        assert.ok(decision.warnings.some((w) => w.includes(text)), `no warning contains ${JSON.stringify(text)}: ${JSON.stringify(decision.warnings)}`);
      }
      if (e.noWarnings) assert.deepEqual(decision.warnings, []);
      for (const w of decision.warnings) {
        assert.ok(w.length <= 256 && !w.includes('\n') && w.startsWith('mtls-guard: '), `bad warning: ${w}`);
      }
      if (e.auditAnnotations) assert.deepEqual(auditAnnotations(decision), e.auditAnnotations);
      if (e.templateAnnotations !== undefined) assert.deepEqual(templateAnnotations(c.request.object, decision), e.templateAnnotations);
      if (e.patchPaths) assert.deepEqual(decision.patch.map((op) => op.path), e.patchPaths);
    });
  }
});
