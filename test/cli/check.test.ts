// `mtls-guard check` end to end: the built binary on fixture manifests under test/fixtures/cli.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import jsonpatch from 'fast-json-patch';
import { parse } from 'yaml';
import { assertBuilt, BIN, expectStatus, FIXTURES, run, type Run } from './run.js';

interface Result {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  allowed: boolean;
  violations: { rule: string; action: string; path: string; message: string }[];
  patch: jsonpatch.Operation[];
  source: string;
}

function results(r: Run): Result[] {
  const parsed = JSON.parse(r.stdout) as { results: Result[] };
  assert.deepEqual(Object.keys(parsed), ['results']);
  return parsed.results;
}

function only<T>(items: readonly T[]): T {
  assert.equal(items.length, 1, `expected one item, got ${items.length}`);
  return items[0] as T;
}

const ESC = '\u001b';
let tmp: string;

before(() => {
  assertBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'mtls-guard-check-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('exit status', () => {
  test('0 when nothing is denied', () => {
    const r = run(['check', '-f', 'pa-strict.yaml']);
    expectStatus(r, 0);
    assert.match(r.stdout, /^OK {6}PeerAuthentication bookinfo\/default {2}\(pa-strict\.yaml#1\)$/m);
    assert.match(r.stdout, /^1 object: 0 denied, 0 warned, 1 ok$/m);
  });
  test('1 when an object is denied', () => expectStatus(run(['check', '-f', 'pa-strict.yaml', '-f', 'pa-disable.yaml']), 1));
  test('0 when the policy allowlists the object', () => {
    const r = run(['check', '-f', 'pa-disable.yaml', '--config', 'policy-allow-ratings.yaml']);
    expectStatus(r, 0);
    assert.match(r.stdout, /^OK .*ratings-mtls-disable/m);
  });
  test('warnings alone do not fail the check', () => {
    const r = run(['check', '-f', 'deployment-excluded-port.yaml']);
    expectStatus(r, 0);
    assert.match(r.stdout, /^WARN {4}Deployment bookinfo\/details/m);
  });
});

describe('-o json', () => {
  test('has exactly the documented keys and values', () => {
    const r = run(['check', '-f', 'pa-disable.yaml', '-o', 'json']);
    expectStatus(r, 1);
    const result = only(results(r));
    assert.deepEqual(Object.keys(result).sort(), ['allowed', 'apiVersion', 'kind', 'name', 'namespace', 'patch', 'source', 'violations']);
    assert.equal(result.apiVersion, 'security.istio.io/v1');
    assert.equal(result.kind, 'PeerAuthentication');
    assert.equal(result.namespace, 'bookinfo');
    assert.equal(result.name, 'ratings-mtls-disable');
    assert.equal(result.allowed, false);
    assert.deepEqual(result.patch, []);
    assert.equal(result.source, 'pa-disable.yaml#1');
    const v = only(result.violations);
    assert.deepEqual(Object.keys(v).sort(), ['action', 'message', 'path', 'rule']);
    assert.equal(v.rule, 'peerauthentication-disable');
    assert.equal(v.action, 'deny');
    assert.equal(v.path, 'spec.portLevelMtls.9080.mode');
    assert.match(v.message, /^spec\.portLevelMtls\.9080\.mode: DISABLE \(workload scope: pods with app=ratings in bookinfo, port 9080\): .*plaintext.*; fix: use STRICT/);
    assert.doesNotMatch(v.message, /downgraded/);
  });

  test('an unhandled kind is allowed, with no violations and no patch', () => {
    const service = results(run(['check', '-f', 'multi.yaml', '-o', 'json'])).find((x) => x.kind === 'Service');
    assert.deepEqual(service, {
      apiVersion: 'v1',
      kind: 'Service',
      namespace: 'bookinfo',
      name: 'reviews',
      allowed: true,
      violations: [],
      patch: [],
      source: 'multi.yaml#4',
    });
  });

  test('the patch applies and yields the sidecar annotations', () => {
    const r = run(['check', '-f', 'deployment.yaml', '-f', 'deployment-excluded-port.yaml', '-o', 'json']);
    expectStatus(r, 0);
    const [plain, excluded] = results(r) as [Result, Result];
    assert.ok(plain.patch.length > 0);
    assert.ok(plain.patch.every((op) => op.path.startsWith('/spec/template/metadata')));
    const original = parse(readFileSync(join(FIXTURES, 'deployment.yaml'), 'utf8')) as Record<string, unknown>;
    const patched = jsonpatch.applyPatch(structuredClone(original), plain.patch, true, false).newDocument as {
      spec: { template: { metadata: { annotations: Record<string, string>; labels: Record<string, string> } } };
    };
    assert.deepEqual(patched.spec.template.metadata.annotations, {
      'sidecar.istio.io/rewriteAppHTTPProbers': 'true',
      'sidecar.istio.io/statsInclusionPrefixes': 'tls_inspector,listener,cluster',
    });
    assert.deepEqual(patched.spec.template.metadata.labels, { app: 'reviews' });

    // An existing stats list is merged, an existing probe setting is kept.
    const original2 = parse(readFileSync(join(FIXTURES, 'deployment-excluded-port.yaml'), 'utf8')) as Record<string, unknown>;
    const patched2 = jsonpatch.applyPatch(structuredClone(original2), excluded.patch, true, false).newDocument as {
      spec: { template: { metadata: { annotations: Record<string, string> } } };
    };
    assert.equal(patched2.spec.template.metadata.annotations['sidecar.istio.io/statsInclusionPrefixes'], 'cluster_manager,tls_inspector,listener,cluster');
    assert.equal(patched2.spec.template.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts'], '9443');
    assert.equal(only(excluded.violations).action, 'warn');
    assert.equal(excluded.allowed, true);
  });
});

describe('inputs', () => {
  test('multi-document YAML: one result per object, empty documents skipped, numbered by position', () => {
    const r = run(['check', '-f', 'multi.yaml', '-o', 'json']);
    expectStatus(r, 1);
    const rs = results(r);
    assert.deepEqual(rs.map((x) => x.source), ['multi.yaml#1', 'multi.yaml#3', 'multi.yaml#4']);
    assert.deepEqual(rs.map((x) => x.allowed), [true, false, true]);
    const dr = rs[1] as Result;
    assert.equal(dr.namespace, 'default');
    assert.equal(only(dr.violations).rule, 'destinationrule-disable');
    assert.equal(only(dr.violations).path, 'spec.trafficPolicy.tls.mode');
  });

  test('-n is the namespace of objects without one, and is what the host is resolved in', () => {
    const rs = results(run(['check', '-f', 'multi.yaml', '-n', 'shop', '-o', 'json']));
    const dr = rs.find((x) => x.kind === 'DestinationRule') as Result;
    assert.equal(dr.namespace, 'shop');
    assert.match(only(dr.violations).message, /reviews\.shop\.svc\.cluster\.local/);
    // Objects that name their namespace keep it.
    assert.equal((rs[0] as Result).namespace, 'bookinfo');
  });

  test('- reads stdin', () => {
    const r = run(['check', '-f', '-', '-o', 'json'], { input: readFileSync(join(FIXTURES, 'pa-disable.yaml'), 'utf8') });
    expectStatus(r, 1);
    const result = only(results(r));
    assert.equal(result.source, '<stdin>#1');
    assert.equal(result.name, 'ratings-mtls-disable');
  });

  test('folders are read recursively in name order; hidden folders and other extensions are skipped', () => {
    const r = run(['check', '-f', 'folder', '-o', 'json']);
    expectStatus(r, 1);
    assert.deepEqual(
      results(r).map((x) => [x.source, x.allowed]),
      [
        ['folder/a-pa.yaml#1', false],
        ['folder/c-deploy.json#1', true],
        ['folder/sub/b-dr.yml#1', true],
      ],
    );
    assert.equal(r.stderr, '');
  });

  test('List kinds are unwrapped; items of a typed list without a kind take it from the list, as kubectl does', () => {
    const r = run(['check', '-f', 'list.yaml', '-o', 'json']);
    expectStatus(r, 1);
    const rs = results(r);
    assert.deepEqual(
      rs.map((x) => [x.source, x.apiVersion, x.kind, x.allowed]),
      [
        ['list.yaml#1.items[0]', 'security.istio.io/v1beta1', 'PeerAuthentication', false],
        ['list.yaml#2.items[0]', 'apps/v1', 'Deployment', true],
      ],
    );
    assert.ok((rs[1] as Result).patch.length > 0);
  });

  test('JSON values one after another are objects one after another', () => {
    const file = join(tmp, 'stream.json');
    const pa = JSON.stringify(parse(readFileSync(join(FIXTURES, 'pa-disable.yaml'), 'utf8')));
    writeFileSync(file, `${pa}\n${pa.replace('ratings-mtls-disable', 'second')}\n`);
    const r = run(['check', '-f', file, '-o', 'json']);
    expectStatus(r, 1);
    assert.deepEqual(results(r).map((x) => [x.source, x.name]), [[`${file}#1`, 'ratings-mtls-disable'], [`${file}#2`, 'second']]);
  });

  test('a UTF-16 file with a byte-order mark is read, as kubectl reads it', () => {
    const file = join(tmp, 'utf16.yaml');
    writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(readFileSync(join(FIXTURES, 'pa-disable.yaml'), 'utf8'), 'utf16le')]));
    const r = run(['check', '-f', file, '-o', 'json']);
    expectStatus(r, 1);
    assert.equal(only(results(r)).name, 'ratings-mtls-disable');
  });
});

describe('YAML is read as kubectl reads it (YAML 1.1, go-yaml v2)', () => {
  test('insecureSkipVerify: yes is true, so it is denied', () => {
    const r = run(['check', '-f', 'dr-insecure-yes.yaml', '-o', 'json']);
    expectStatus(r, 1);
    const v = only(only(results(r)).violations);
    assert.equal(v.rule, 'destinationrule-insecure-tls');
    assert.equal(v.path, 'spec.trafficPolicy.tls.insecureSkipVerify');
  });

  test('a merge key after a port-level tls mode overwrites it, as go-yaml v2 does, so DISABLE is denied', () => {
    const r = run(['check', '-f', 'dr-merge-tls.yaml', '-o', 'json']);
    expectStatus(r, 1);
    const v = only(only(results(r)).violations);
    assert.equal(v.rule, 'destinationrule-disable');
    assert.equal(v.path, 'spec.trafficPolicy.portLevelSettings[0].tls.mode');
  });

  test('a YAML 1.1 octal port key is the port kubectl sends', () => {
    const file = join(tmp, 'keys.yaml');
    writeFileSync(file, readFileSync(join(FIXTURES, 'pa-disable.yaml'), 'utf8').replace('    9080:', '    021570:'));
    const r = run(['check', '-f', file, '-o', 'json']);
    expectStatus(r, 1);
    assert.equal(only(only(results(r)).violations).path, 'spec.portLevelMtls.9080.mode');
  });
});

describe('bad input: exit 2, a message naming file and document, no stack trace', () => {
  function expectBadInput(args: string[], ...patterns: RegExp[]): void {
    const r = run(args);
    expectStatus(r, 2);
    for (const p of patterns) assert.match(r.stderr, p);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'stack trace printed');
    assert.equal(r.stdout, '', 'nothing judged is printed');
  }

  test('YAML syntax error', () =>
    expectBadInput(['check', '-f', 'bad-yaml.yaml'], /bad-yaml\.yaml: document 2: YAML syntax error at line \d+, column \d+: /));
  test('a document that is not a mapping', () =>
    expectBadInput(['check', '-f', 'non-mapping.yaml'], /non-mapping\.yaml: document 2: not a mapping \(found a list\)/));
  test('a scalar document', () => {
    const file = join(tmp, 'scalar.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n42\n');
    expectBadInput(['check', '-f', file], /scalar\.yaml: document 2: not a mapping \(found a number\)/);
  });
  test('missing kind', () => expectBadInput(['check', '-f', 'missing-kind.yaml'], /missing-kind\.yaml: document 1: missing or empty kind/));
  test('missing apiVersion inside a List item', () => {
    const file = join(tmp, 'list-no-apiversion.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: List\nitems:\n  - kind: ConfigMap\n    metadata: {name: x}\n');
    expectBadInput(['check', '-f', file], /list-no-apiversion\.yaml: document 1: items\[0\]: missing or empty apiVersion/);
  });
  test('metadata that is not a mapping', () => {
    const file = join(tmp, 'bad-metadata.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: oops\n');
    expectBadInput(['check', '-f', file], /bad-metadata\.yaml: document 1: metadata must be a mapping/);
  });
  test('path not found', () => expectBadInput(['check', '-f', 'nope.yaml'], /nope\.yaml: path not found/));
  test('a folder without manifests', () => {
    const dir = join(tmp, 'empty-folder');
    mkdirSync(dir);
    expectBadInput(['check', '-f', dir], /empty-folder: folder holds no \.yaml, \.yml, \.json files/);
  });
  test('bad input wins over a denial, and every problem is listed', () =>
    expectBadInput(['check', '-f', 'pa-disable.yaml', '-f', 'bad-yaml.yaml', '-f', 'missing-kind.yaml'], /bad-yaml\.yaml: document 2/, /missing-kind\.yaml: document 1/));
  test('a policy error names the file and the key path', () =>
    expectBadInput(['check', '-f', 'pa-strict.yaml', '--config', 'policy-typo.yaml'], /policy-typo\.yaml: rules\.destinationrule-disable\.acton: unknown key/));
  test('a policy file that does not exist', () =>
    expectBadInput(['check', '-f', 'pa-strict.yaml', '--config', 'no-policy.yaml'], /no-policy\.yaml: cannot read policy: file not found/));
  test('a policy file that is a folder', () => expectBadInput(['check', '-f', 'pa-strict.yaml', '--config', 'folder'], /folder: cannot read policy/));
  test('no -f', () => expectBadInput(['check'], /no manifests given: use -f PATH/));
  test('a list inside a list, which kubectl cannot apply', () =>
    expectBadInput(['check', '-f', 'nested-list.yaml'], /nested-list\.yaml: document 1: items\[0\]: a list inside a list/));
  test('a separator with content after it, which kubectl refuses', () => {
    const file = join(tmp, 'separator.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n--- !!map\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n');
    expectBadInput(['check', '-f', file], /separator\.yaml: line 4: invalid YAML document separator: !!map/);
  });
  test('.nan, which has no JSON form', () => {
    const file = join(tmp, 'nan.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: .nan}\n');
    expectBadInput(['check', '-f', file], /nan\.yaml: document 1: json: unsupported value: NaN/);
  });
  test('an escape YAML 1.1 does not know', () => {
    const file = join(tmp, 'escape.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: "x\\/y"}\n');
    expectBadInput(['check', '-f', file], /escape\.yaml: document 1: found unknown escape character/);
  });
});

describe('no objects at all is bad input (exit 2), as for kubectl apply', () => {
  function expectNoObjects(r: Run, what: RegExp): void {
    expectStatus(r, 2);
    assert.match(r.stderr, what);
    assert.match(r.stderr, /no objects found in .*nothing to check/);
    assert.equal(r.stdout, '');
  }
  test('an empty file', () => {
    const file = join(tmp, 'empty-file.yaml');
    writeFileSync(file, '');
    expectNoObjects(run(['check', '-f', file]), /empty-file\.yaml/);
  });
  test('a file with only comments and empty documents', () => {
    const file = join(tmp, 'comments.yaml');
    writeFileSync(file, '# nothing here\n---\n---\n');
    expectNoObjects(run(['check', '-f', file, '-o', 'json']), /comments\.yaml/);
  });
  test('empty standard input (a generator that printed nothing)', () => {
    expectNoObjects(run(['check', '-f', '-'], { input: '' }), /standard input \(-f -\).*printed nothing/);
  });
  test('closed standard input', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" check -f - <&-`], { encoding: 'utf8', timeout: 30_000 });
    expectNoObjects({ status: r.status, stdout: r.stdout, stderr: r.stderr }, /standard input/);
  });
  test('objects in one input are enough, as for kubectl', () => {
    const file = join(tmp, 'empty-too.yaml');
    writeFileSync(file, '');
    expectStatus(run(['check', '-f', 'pa-strict.yaml', '-f', file]), 0);
  });
});

describe('input that is not UTF-8 text says what it is', () => {
  function expectRefused(bytes: Buffer, name: string, pattern: RegExp): void {
    const file = join(tmp, name);
    writeFileSync(file, bytes);
    const r = run(['check', '-f', file]);
    expectStatus(r, 2);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /not a mapping/);
  }
  const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n';
  test('UTF-16 without a byte-order mark', () =>
    expectRefused(Buffer.from(text, 'utf16le'), 'utf16.yaml', /utf16\.yaml: not UTF-8 \(looks like UTF-16LE without a byte-order mark\)/));
  test('UTF-16BE without a byte-order mark', () =>
    expectRefused(Buffer.from(text, 'utf16le').swap16(), 'utf16be.yaml', /utf16be\.yaml: not UTF-8 \(looks like UTF-16BE without a byte-order mark\)/));
  test('gzip data', () => expectRefused(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x4b, 0x4c, 0, 0]), 'gz.yaml', /gz\.yaml: binary \(looks like gzip-compressed data\)/));
  test('other binary data', () => expectRefused(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]), 'elf.yaml', /elf\.yaml: binary/));
  test('Latin-1 text', () => expectRefused(Buffer.from(`${text}data:\n  a: caf\xe9\n`, 'latin1'), 'latin1.yaml', /latin1\.yaml: not UTF-8: invalid byte at byte \d+ \(0xE9\)/));
  test('control characters', () => expectRefused(Buffer.from(`${text}data:\n  a: "\x07"\n`), 'bell.yaml', /bell\.yaml: document 1: control characters are not allowed/));
});

describe('large input', () => {
  test('is read one document at a time: 12 MB under a 64 MB heap', () => {
    const file = join(tmp, 'large.yaml');
    const doc = readFileSync(join(FIXTURES, 'deployment.yaml'), 'utf8');
    const count = Math.ceil((12 * 1024 * 1024) / (doc.length + 4));
    writeFileSync(file, Array.from({ length: count }, (_, i) => doc.replace('name: reviews', `name: reviews-${i}`)).join('---\n'));
    const r = spawnSync(process.execPath, ['--max-old-space-size=64', BIN, 'check', '-f', file, '-o', 'json'], { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 30 });
    assert.equal(r.status, 0, r.stderr.slice(0, 2000));
    assert.equal(r.stderr, '');
    const parsed = JSON.parse(r.stdout) as { results: Result[] };
    assert.equal(parsed.results.length, count);
    assert.equal(parsed.results.at(-1)?.name, `reviews-${count - 1}`);
  });

  test('a single document beyond 64 MiB is refused with a message, not a crash', () => {
    const file = join(tmp, 'huge-document.yaml');
    writeFileSync(file, `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: ${'x'.repeat(65 * 1024 * 1024)}\n`);
    const r = spawnSync(process.execPath, ['--max-old-space-size=256', BIN, 'check', '-f', file], { encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 2, r.stderr.slice(0, 2000));
    assert.match(r.stderr, /huge-document\.yaml: document 1 \(line 1\) is larger than 64 MiB/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });
});

describe('modes', () => {
  test('--mode audit turns a denial into exit 0 with warn actions', () => {
    const r = run(['check', '-f', 'pa-disable.yaml', '-f', 'deployment.yaml', '--mode', 'audit', '-o', 'json']);
    expectStatus(r, 0);
    const [pa, deployment] = results(r) as [Result, Result];
    assert.equal(pa.allowed, true);
    assert.equal(only(pa.violations).action, 'warn');
    assert.match(only(pa.violations).message, / \[downgraded: audit\]$/);
    // Audit mode changes nothing: the mutating webhook would return no patch.
    assert.deepEqual(deployment.patch, []);
  });

  test('--mode audit in text says what would have happened', () => {
    const r = run(['check', '-f', 'pa-disable.yaml', '-f', 'deployment.yaml', '--mode', 'audit']);
    expectStatus(r, 0);
    assert.match(r.stdout, /^WARN .*ratings-mtls-disable/m);
    assert.match(r.stdout, /\[peerauthentication-disable\] warn \(audit mode: would be denied\)/);
    assert.match(r.stdout, /would add annotations: .*\(audit mode: not applied\)/);
  });

  test('the policy namespaces[] override applies to -n, and --mode enforce overrides it', () => {
    const args = ['check', '-f', 'pa-no-namespace.yaml', '-n', 'legacy-app', '--config', 'policy-allow-ratings.yaml', '-o', 'json'];
    const audit = run(args);
    expectStatus(audit, 0);
    assert.equal(only(only(results(audit)).violations).action, 'warn');
    const enforced = run([...args, '--mode', 'enforce']);
    expectStatus(enforced, 1);
    assert.equal(only(only(results(enforced)).violations).action, 'deny');
  });
});

describe('text output', () => {
  test('verdicts, rule ids, reasons and a summary, without colour when not a terminal', () => {
    const r = run(['check', '-f', 'multi.yaml', '-f', 'list.yaml', '-f', 'deployment.yaml', '-f', 'deployment-excluded-port.yaml']);
    expectStatus(r, 1);
    assert.ok(!r.stdout.includes(ESC), 'ANSI escape in piped output');
    const lines = r.stdout.split('\n');
    assert.match(r.stdout, /^DENIED {2}DestinationRule default\/reviews-plaintext {2}\(multi\.yaml#3\)$/m);
    assert.match(r.stdout, /^ {2}\[destinationrule-disable\] deny: spec\.trafficPolicy\.tls\.mode: DISABLE \(/m);
    assert.match(r.stdout, /^ {6}why: /m);
    assert.match(r.stdout, /^ {6}fix: /m);
    assert.match(r.stdout, /^DENIED {2}PeerAuthentication bookinfo\/ratings-mtls-disable {2}\(list\.yaml#1\.items\[0\]\)$/m);
    assert.match(r.stdout, /^ {2}\[peerauthentication-disable\] deny: spec\.mtls\.mode: DISABLE/m);
    assert.match(r.stdout, /^WARN {4}Deployment bookinfo\/details/m);
    assert.match(r.stdout, /^ {2}\[workload-port-exclusion\] warn: /m);
    assert.match(r.stdout, /^PATCH {3}Deployment bookinfo\/reviews {2}\(deployment\.yaml#1\)\n {2}would add annotations: sidecar\.istio\.io\/rewriteAppHTTPProbers="true"/m);
    assert.match(r.stdout, /^OK {6}Service bookinfo\/reviews .*not checked/m);
    assert.equal(lines.at(-2), '7 objects: 2 denied, 1 warned, 4 ok; 3 would be patched');
  });

  test('a reader that stops early (| head) ends the output quietly', () => {
    const big = join(tmp, 'big.yaml');
    writeFileSync(big, Array(2000).fill(readFileSync(join(FIXTURES, 'pa-disable.yaml'), 'utf8')).join('---\n'));
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" check -f "${big}" -o json | head -c 1`], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.stdout, '{');
    assert.equal(r.stderr, '');
  });

  test('NO_COLOR and --no-color are accepted', () => {
    expectStatus(run(['check', '-f', 'pa-strict.yaml', '--no-color']), 0);
    const r = run(['check', '-f', 'pa-disable.yaml'], { env: { NO_COLOR: '1' } });
    expectStatus(r, 1);
    assert.ok(!r.stdout.includes(ESC));
  });
});

describe('usage', () => {
  test('--help on the program and on check shows examples and exits 0', () => {
    for (const args of [['--help'], ['check', '--help'], ['certs', '--help'], ['help', 'check']]) {
      const r = run(args);
      expectStatus(r, 0);
      assert.match(r.stdout, /Examples:/, args.join(' '));
    }
  });
  test('--version prints the package version', () => {
    const r = run(['--version']);
    expectStatus(r, 0);
    const pkg = JSON.parse(readFileSync(join(FIXTURES, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
    assert.equal(r.stdout.trim(), pkg.version);
  });
  test('an unknown command, an unknown flag, a bad choice or a stray argument exit 2 with a message', () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['check', '-f', 'pa-strict.yaml', '--bogus'], /unknown option '--bogus'/],
      [['check', '-f', 'pa-strict.yaml', '-o', 'yaml'], /Allowed choices are text, json/],
      [['check', '-f', 'pa-strict.yaml', '--mode', 'strict'], /Allowed choices are enforce, audit/],
      [['check', 'pa-strict.yaml'], /too many arguments/],
    ];
    for (const [args, pattern] of cases) {
      const r = run(args);
      expectStatus(r, 2);
      assert.match(r.stderr, pattern);
    }
  });
});

describe('the inputs are one mesh', () => {
  const dir = join(FIXTURES, 'mesh-gitops');
  const policy = join(FIXTURES, 'mesh-gitops-policy.yaml');

  test('a DestinationRule DISABLE in one file conflicts with the mesh-wide STRICT policy in another: denied, exit 1', () => {
    const r = run(['check', '-f', dir, '--config', policy, '-o', 'json']);
    expectStatus(r, 1);
    const dr = only(results(r).filter((x) => x.kind === 'DestinationRule'));
    assert.equal(dr.allowed, false);
    const v = only(dr.violations);
    assert.equal(v.rule, 'destinationrule-strict-conflict');
    assert.match(v.message, /STRICT by PeerAuthentication istio-system\/default \(spec\.mtls\.mode, mesh-wide\)/);
    assert.match(v.message, /ratings:9080 -> port 9080 of Deployment bookinfo\/ratings-v1/);
    // The STRICT policy is told which DestinationRule it breaks (a warning, not a denial).
    const pa = only(results(r).filter((x) => x.kind === 'PeerAuthentication'));
    assert.equal(pa.allowed, true);
    assert.match(only(pa.violations).message, /DestinationRule bookinfo\/ratings \(spec\.trafficPolicy\.tls\.mode: DISABLE\)/);
  });

  test('the same files one at a time, or with --no-mesh, find no conflict', () => {
    expectStatus(run(['check', '-f', join(dir, 'ratings-dr.yaml'), '--config', policy]), 0);
    expectStatus(run(['check', '-f', dir, '--config', policy, '--no-mesh']), 0);
  });

  test('objects judged once the mesh is known keep their place: the report is in input order', () => {
    const sources = results(run(['check', '-f', dir, '--config', policy, '-o', 'json'])).map((x) => x.source.replace(/^.*mesh-gitops\//, ''));
    assert.deepEqual(sources, [...Array.from({ length: 11 }, (_, i) => `bookinfo.yaml#${i + 1}`), 'mesh-strict.yaml#1', 'ratings-dr.yaml#1']);
    const text = run(['check', '-f', dir, '--config', policy]).stdout;
    assert.ok(text.indexOf('PeerAuthentication istio-system/default') < text.indexOf('DestinationRule bookinfo/ratings'));
    assert.ok(text.indexOf('Deployment bookinfo/reviews-v3') < text.indexOf('PeerAuthentication istio-system/default'));
  });
});
