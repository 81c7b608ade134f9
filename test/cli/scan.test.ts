// `mtls-guard scan`: the formatters on hand-built model answers (scan-values.ts), the input errors
// in process, and the built binary on the bookinfo fixtures under test/fixtures/scan.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { palette } from '../../src/cli/colour.js';
import { yamlDocument } from '../../src/reports/policy-report-yaml.js';
import { formatPolicyReports, policyReports, type PolicyReport } from '../../src/reports/policy-report.js';
import { formatScanJson, toMeshScanJson, type MeshScanJson } from '../../src/cli/scan-json.js';
import { acceptsOf, buildScan, proxyOf } from '../../src/reports/scan-report.js';
import { runScan } from '../../src/cli/scan-run.js';
import { formatScanTable } from '../../src/cli/scan-table.js';
import type { ScanOptions } from '../../src/cli/scan.js';
import { defaultPolicy } from '../../src/engine/index.js';
import { MeshModel } from '../../src/mesh/index.js';
import { ambientDisabled, answers, brokenDetails, cleanAnswers, details, legacy, ratings } from './scan-values.js';
import { assertBuilt, expectStatus, ROOT, run, type Run } from './run.js';

const plain = palette(false);
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[\d+m/g;
const NOW = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
const SCAN_FIXTURES = join(ROOT, 'test', 'fixtures', 'scan');

describe('what a port accepts', () => {
  test('STRICT with a sidecar: mTLS only; PERMISSIVE: both; no proxy: plaintext whatever the mode', () => {
    assert.equal(acceptsOf(details), 'mtls');
    assert.equal(acceptsOf(ratings), 'mtls+plaintext');
    assert.equal(acceptsOf(legacy), 'plaintext');
    assert.equal(acceptsOf({ ...details, sidecar: false }), 'plaintext');
    assert.equal(acceptsOf({ ...details, mode: 'DISABLE' }), 'plaintext');
  });
  test('ambient: ztunnel enforces STRICT and reads DISABLE as PERMISSIVE', () => {
    assert.equal(proxyOf(ambientDisabled), 'ambient');
    assert.equal(acceptsOf(ambientDisabled), 'mtls+plaintext');
    assert.equal(acceptsOf({ ...ambientDisabled, mode: 'STRICT' }), 'mtls');
  });
});

describe('buildScan', () => {
  test('the order of the answers does not change the result', () => {
    const a = answers();
    const reversed = { ...a, serverPorts: [...a.serverPorts].reverse(), flows: [...a.flows].reverse() };
    assert.deepEqual(buildScan(reversed), buildScan(a));
    assert.deepEqual(
      buildScan(a).rows.map((r) => `${r.server.workload.namespace}/${r.server.workload.name}`),
      ['bookinfo/details-v1', 'bookinfo/ratings-v1', 'bookinfo/reviews-v1', 'legacy/db', 'shop/cart'],
    );
  });
  test('flows are attached to the server port they reach, by value', () => {
    const scan = buildScan(answers());
    const row = scan.rows[0];
    assert.ok(row);
    assert.deepEqual(row.failingFrom, [brokenDetails]);
    assert.equal(scan.rows[3]?.plaintextFrom.length, 1);
  });
  test('counts', () => {
    assert.deepEqual(buildScan(answers()).summary, {
      namespaces: 3,
      workloads: 5,
      serverPorts: 5,
      plaintextPorts: 3,
      flows: 5,
      outcomes: { mtls: 1, plaintext: 1, tls: 0, broken: 2, unknown: 1 },
      conflicts: 1,
      findings: 3,
    });
  });
});

describe('-o table', () => {
  const text = formatScanTable(buildScan(answers()), plain);
  const lines = text.split('\n');

  test('a header, one row per workload port, aligned columns', () => {
    assert.match(lines[0] ?? '', /^NAMESPACE +WORKLOAD +PORT +PROXY +MODE +ACCEPTS +SET-BY +PLAINTEXT-FROM +FAILING-FROM$/);
    const columns = ['WORKLOAD', 'PORT', 'MODE', 'SET-BY', 'FAILING-FROM'].map((h) => (lines[0] ?? '').indexOf(h));
    const rows = lines.slice(1, 6);
    assert.match(rows[0] ?? '', /^bookinfo +Deployment\/details-v1 +9080 +sidecar +STRICT +mTLS +istio-system\/default spec\.mtls\.mode +- +bookinfo$/);
    assert.match(rows[3] ?? '', /^legacy +StatefulSet\/db +5432 +none +PERMISSIVE +plaintext +mesh default +bookinfo, other namespaces \{app=reviews\} +-$/);
    for (const row of rows) {
      for (const at of columns) assert.equal(row[at - 1], ' ', `a column starts at ${at} in: ${row}`);
    }
    assert.equal(lines[6], '');
  });
  test('problems name the DestinationRule field, the PeerAuthentication and the AuthorizationPolicy', () => {
    assert.ok(text.includes('Problems:\n  BROKEN    bookinfo → details.bookinfo.svc.cluster.local:9080 → Deployment bookinfo/details-v1 port 9080 (STRICT)\n'));
    assert.ok(text.includes('            client TLS: DestinationRule bookinfo/details spec.trafficPolicy.tls.mode: DISABLE\n'));
    assert.ok(text.includes('            server mode: PeerAuthentication istio-system/default spec.mtls.mode\n'));
    assert.match(text, /^ {2}AUTHZ {5}Deployment bookinfo\/ratings-v1 port 9080 accepts plaintext \(PERMISSIVE\) but AuthorizationPolicy bookinfo\/ratings-viewer \(ALLOW\) matches peer identity$/m);
    assert.match(text, /identity fields: spec\.rules\[0\]\.from\[0\]\.source\.principals$/m);
  });
  test('ends with one summary line', () => {
    assert.equal(
      lines.at(-2),
      '5 workload ports in 3 namespaces: 2 mTLS only, 3 accept plaintext; 5 flows: 1 mtls, 1 plaintext, 2 broken, 1 unknown; 1 authorization conflict',
    );
    assert.equal(lines.at(-1), '');
  });
  test('no problems section when nothing is broken', () => {
    const clean = formatScanTable(buildScan(cleanAnswers()), plain);
    assert.ok(!clean.includes('Problems:'));
    assert.match(clean, /^1 workload port in 1 namespace: 1 mTLS only, 0 accept plaintext; 1 flow: 1 mtls; 0 authorization conflicts$/m);
  });
  test('an empty mesh says so', () => {
    const empty = formatScanTable(buildScan({ serverPorts: [], flows: [], conflicts: [], rootNamespace: 'istio-system' }), plain);
    assert.equal(empty, 'no workload ports found (no pod template with container ports in the input)\n\n0 workload ports in 0 namespaces: 0 mTLS only, 0 accept plaintext; 0 flows; 0 authorization conflicts\n');
  });
  test('colour changes nothing but escape codes', () => {
    const coloured = formatScanTable(buildScan(answers()), palette(true));
    assert.ok(coloured.includes('\u001b[31m'), 'broken in red');
    assert.ok(!text.includes('\u001b'));
    assert.equal(coloured.replace(ANSI, ''), text);
  });
});

describe('-o json', () => {
  const doc = toMeshScanJson(buildScan(answers()));

  test('kind MeshScan with the documented top-level keys', () => {
    assert.deepEqual(Object.keys(doc), ['apiVersion', 'kind', 'rootNamespace', 'serverPorts', 'flows', 'conflicts', 'summary']);
    assert.equal(doc.apiVersion, 'mtls-guard.io/v1alpha1');
    assert.equal(doc.kind, 'MeshScan');
    assert.deepEqual(JSON.parse(formatScanJson(buildScan(answers()))), doc);
  });
  test('every key is present; absent values are null', () => {
    const db = doc.serverPorts[3];
    assert.ok(db);
    assert.deepEqual(Object.keys(db), ['workload', 'port', 'mode', 'setBy', 'sidecar', 'ambient', 'accepts', 'proxy', 'plaintextFrom', 'failingFrom']);
    assert.equal(db.setBy, null);
    assert.deepEqual(db.plaintextFrom[0]?.clients, { namespaces: ['bookinfo'], otherNamespaces: true, workloadSelector: { app: 'reviews' } });
    const external = doc.flows.find((f) => f.host === 'api.example.com');
    assert.ok(external);
    assert.deepEqual(Object.keys(external), ['clients', 'host', 'servicePort', 'subset', 'clientTls', 'clientTlsFrom', 'service', 'destinationRules', 'server', 'outcome', 'reason']);
    assert.equal(external.server, null);
    assert.equal(external.subset, null);
    assert.equal(external.clientTlsFrom, null);
  });
  test('broken flow and conflict', () => {
    const broken = doc.flows.filter((f) => f.outcome === 'broken');
    assert.equal(broken.length, 2);
    assert.deepEqual(broken.find((f) => f.clientTlsFrom)?.clientTlsFrom, { kind: 'DestinationRule', namespace: 'bookinfo', name: 'details', path: 'spec.trafficPolicy.tls.mode' });
    assert.deepEqual(doc.conflicts, [
      {
        server: {
          workload: { kind: 'Deployment', namespace: 'bookinfo', name: 'ratings-v1' },
          port: 9080,
          mode: 'PERMISSIVE',
          setBy: { kind: 'PeerAuthentication', namespace: 'bookinfo', name: 'ratings', path: 'spec.portLevelMtls.9080.mode' },
        },
        authorizationPolicy: { kind: 'AuthorizationPolicy', namespace: 'bookinfo', name: 'ratings-viewer' },
        action: 'ALLOW',
        paths: ['spec.rules[0].from[0].source.principals'],
      },
    ]);
    assert.deepEqual(doc.summary, {
      namespaces: 3,
      workloads: 5,
      serverPorts: 5,
      plaintextPorts: 3,
      flows: { total: 5, mtls: 1, plaintext: 1, tls: 0, broken: 2, unknown: 1 },
      conflicts: 1,
      findings: 3,
    });
  });
});

describe('-o policyreport', () => {
  const reports = policyReports(buildScan(answers()), NOW);
  const byNamespace = new Map(reports.map((r) => [r.metadata.namespace ?? '', r]));

  test('one ClusterPolicyReport first, then a PolicyReport per namespace in order', () => {
    assert.deepEqual(
      reports.map((r) => `${r.kind} ${r.metadata.namespace ?? ''}`),
      ['ClusterPolicyReport ', 'PolicyReport bookinfo', 'PolicyReport legacy', 'PolicyReport shop'],
    );
    for (const r of reports) {
      assert.equal(r.apiVersion, 'wgpolicyk8s.io/v1alpha2');
      assert.equal(r.metadata.name, 'mtls-guard-mesh');
      assert.deepEqual(r.metadata.labels, { 'app.kubernetes.io/managed-by': 'mtls-guard' });
      for (const res of r.results) {
        assert.equal(res.policy, 'mtls-guard');
        assert.equal(res.source, 'mtls-guard');
        assert.deepEqual(res.timestamp, { seconds: 1767323045, nanos: 678000000 });
        for (const v of Object.values(res.properties)) assert.equal(typeof v, 'string');
      }
      const summary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
      for (const res of r.results) summary[res.result]++;
      assert.deepEqual(r.summary, summary, `summary of ${r.kind} ${r.metadata.namespace ?? ''}`);
    }
  });
  test('a DestinationRule break goes to the DestinationRule namespace, naming its field', () => {
    const bookinfo = byNamespace.get('bookinfo') as PolicyReport;
    const dr = bookinfo.results.find((r) => r.rule === 'destinationrule-strict-conflict');
    assert.ok(dr);
    assert.equal(dr.result, 'fail');
    assert.equal(dr.severity, 'high');
    assert.deepEqual(dr.resources[0], { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', name: 'details', namespace: 'bookinfo', fieldPath: 'spec.trafficPolicy.tls.mode' });
    assert.deepEqual(dr.resources[1], { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', name: 'default', namespace: 'istio-system', fieldPath: 'spec.mtls.mode' });
    assert.match(dr.message, /DestinationRule bookinfo\/details spec\.trafficPolicy\.tls\.mode: DISABLE, which Deployment bookinfo\/details-v1 port 9080 refuses \(STRICT/);
    assert.deepEqual(bookinfo.summary, { pass: 2, fail: 2, warn: 1, error: 0, skip: 0 });
  });
  test('a break decided by the mesh-wide PeerAuthentication alone is cluster-wide', () => {
    const cluster = byNamespace.get('') as PolicyReport;
    assert.deepEqual(cluster.results.map((r) => `${r.rule} ${r.result}`), ['peerauthentication-strict-conflict fail']);
    assert.equal(cluster.metadata.namespace, undefined);
  });
  test('authorization conflict and plaintext ports', () => {
    const bookinfo = byNamespace.get('bookinfo') as PolicyReport;
    assert.deepEqual(
      bookinfo.results.map((r) => `${r.rule} ${r.result} ${r.severity}`),
      ['destinationrule-strict-conflict fail high', 'peerauthentication-authz-conflict fail high', 'plaintext-port pass info', 'plaintext-port warn low', 'plaintext-port pass info'],
    );
    const legacyPort = byNamespace.get('legacy')?.results[0];
    assert.equal(legacyPort?.severity, 'medium', 'plaintext is actually sent to it');
    assert.match(legacyPort?.message ?? '', /no sidecar or ambient proxy/);
    assert.match(byNamespace.get('shop')?.results[0]?.message ?? '', /ambient: ztunnel reads DISABLE as PERMISSIVE/);
  });
  test('a clean mesh still writes the cluster report, empty', () => {
    const clean = policyReports(buildScan(cleanAnswers()), NOW);
    assert.deepEqual(clean[0]?.results, []);
    assert.deepEqual(clean[0]?.summary, { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 });
  });
  test('the YAML writer: every value reads back the same in YAML 1.1 and 1.2', () => {
    const tricky = ['on', 'Yes', 'n', '~', 'null', '9080', '0x1F', '1:20', '.inf', '-', 'a: b', 'a #b', '#x', ' lead', 'trail ', 'two  spaces', "it's", 'say "hi"', 'back\\slash', 'line\nbreak', 'tab\there', 'é ü →', '', '*ref', '&a', '!tag', '%x', '@x', '`x', '[x]', '{x}', 'a,b', '? x', '| x', '> x', 'Istio mTLS', 'spec.rules[0].from[0].source.principals'];
    const value = {
      strings: tricky,
      map: Object.fromEntries(tricky.filter((t) => t !== '').map((t) => [t, t])),
      numbers: [0, 9080, -1, 1.5],
      flags: [true, false],
      empty: { list: [], map: {} },
      nested: [[1, [2]], [{ a: [{ b: 'c' }] }], []],
    };
    const text = yamlDocument(value);
    assert.deepEqual(parse(text, { version: '1.1' }), value);
    assert.deepEqual(parse(text), value);
    assert.match(text, /^ {2}- Istio mTLS$/m, 'plain where plain is safe');
  });

  test('YAML stream: parses back to the same objects, no anchors, YAML 1.1 strings quoted', () => {
    const text = formatPolicyReports(reports);
    assert.ok(text.startsWith('---\napiVersion: wgpolicyk8s.io/v1alpha2\n'));
    assert.ok(!/[&*]a\d/.test(text), 'no YAML aliases');
    const docs = parseAllDocuments(text).map((d) => d.toJS() as unknown);
    assert.deepEqual(docs, JSON.parse(JSON.stringify(reports)));
    const odd = policyReports(buildScan({ ...cleanAnswers(), serverPorts: [{ ...details, workload: { kind: 'Deployment', namespace: 'on', name: 'yes' } }] }), NOW);
    const yaml11 = formatPolicyReports(odd);
    assert.match(yaml11, /namespace: "on"/);
    assert.match(yaml11, /name: "yes"/);
  });
});

// ---- the command, in process (input errors are found before the model is built) ----

interface Captured {
  status: number;
  stdout: string;
  stderr: string;
}

async function scanInProcess(opts: Partial<ScanOptions>, stdin = ''): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: {},
    openStdin: async function* () {
      yield Buffer.from(stdin);
    },
  };
  const status = await runScan({ output: 'table', namespace: 'default', color: false, ...opts }, io, NOW);
  return { status, stdout, stderr };
}

describe('bad input: exit 2, messages as check gives them, nothing on stdout', () => {
  test('no -f', async () => {
    const r = await scanInProcess({});
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'error: no manifests given: use -f PATH (a file, a folder, or - for stdin)\nmtls-guard scan: 1 problem with the input; nothing was scanned\n');
  });
  test('a missing file and a bad document are both reported', async () => {
    const r = await scanInProcess({ filename: [join(SCAN_FIXTURES, 'missing.yaml'), '-'] }, 'apiVersion: v1\nkind: Service\nmetadata: [1]\n');
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: .*missing\.yaml: /m);
    assert.match(r.stderr, /^error: <stdin>: document 1: metadata must be a mapping, found a list$/m);
    assert.match(r.stderr, /2 problems with the input; nothing was scanned\n$/);
  });
  test('empty stdin', async () => {
    const r = await scanInProcess({ filename: ['-'] }, '# nothing\n');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^error: no objects found in standard input \(-f -\): nothing to scan/m);
  });
  test('a bad policy file', async () => {
    const r = await scanInProcess({ filename: [join(SCAN_FIXTURES, 'mesh')], config: join(SCAN_FIXTURES, 'no-such-policy.yaml') });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^error: invalid policy: .*no-such-policy\.yaml: cannot read policy: file not found$/m);
  });
});

// ---- the built binary on the bookinfo fixtures (needs the mesh model) ----

function modelMissing(): string | false {
  try {
    MeshModel.build([], defaultPolicy()).serverPorts();
    return false;
  } catch (err) {
    return err instanceof Error && err.message === 'not implemented' ? 'src/mesh/model.ts is not implemented yet' : false;
  }
}

function scan(args: readonly string[], input?: string): Run {
  return run(['scan', ...args], { cwd: SCAN_FIXTURES, ...(input === undefined ? {} : { input }) });
}

function scanJson(r: Run): MeshScanJson {
  return JSON.parse(r.stdout) as MeshScanJson;
}

describe('mtls-guard scan (built binary)', { skip: modelMissing() }, () => {
  test('the base mesh: mesh-wide STRICT, every bookinfo port mTLS only, exit 0', () => {
    assertBuilt();
    const r = scan(['-f', 'mesh']);
    expectStatus(r, 0);
    assert.equal(r.stderr, '');
    assert.doesNotMatch(r.stdout, /Problems:/);
    for (const app of ['details', 'ratings', 'reviews', 'productpage']) {
      assert.match(r.stdout, new RegExp(`^bookinfo +Deployment/${app}-v1 +9080 +sidecar +STRICT +mTLS +istio-system/default spec\\.mtls\\.mode +- +-$`, 'm'));
    }
    assert.match(r.stdout, /^4 workload ports in 1 namespace: 4 mTLS only, 0 accept plaintext; \d+ flows?: .*; 0 authorization conflicts$/m);
  });

  test('a DestinationRule DISABLE to STRICT details: broken, exit 1, names the DestinationRule field', () => {
    const r = scan(['-f', 'mesh', '-f', 'dr-details-disable.yaml']);
    expectStatus(r, 1);
    assert.match(r.stdout, /^bookinfo +Deployment\/details-v1 +9080 +sidecar +STRICT +mTLS +istio-system\/default spec\.mtls\.mode +- +bookinfo\b/m);
    assert.match(r.stdout, /^ {2}BROKEN {4}bookinfo.* → details\.bookinfo\.svc\.cluster\.local:9080 → Deployment bookinfo\/details-v1 port 9080 \(STRICT\)$/m);
    assert.match(r.stdout, /client TLS: DestinationRule bookinfo\/details spec\.trafficPolicy\.tls\.mode: DISABLE$/m);
    const doc = scanJson(scan(['-f', 'mesh', '-f', 'dr-details-disable.yaml', '-o', 'json']));
    const broken = doc.flows.filter((f) => f.outcome === 'broken');
    assert.ok(broken.length >= 1);
    for (const f of broken) {
      assert.equal(f.host, 'details.bookinfo.svc.cluster.local');
      assert.deepEqual(f.clientTlsFrom, { kind: 'DestinationRule', namespace: 'bookinfo', name: 'details', path: 'spec.trafficPolicy.tls.mode' });
      assert.equal(f.server?.mode, 'STRICT');
    }
    assert.equal(doc.summary.findings, broken.length);
  });

  test('details PeerAuthentication DISABLE: its port accepts plaintext and gets it, nothing broken, exit 0', () => {
    const r = scan(['-f', 'mesh', '-f', 'pa-details-disable.yaml', '-f', 'dr-details-disable.yaml']);
    expectStatus(r, 0);
    assert.match(r.stdout, /^bookinfo +Deployment\/details-v1 +9080 +sidecar +DISABLE +plaintext +bookinfo\/details spec\.mtls\.mode +bookinfo\b.* +-$/m);
    const doc = scanJson(scan(['-f', 'mesh', '-f', 'pa-details-disable.yaml', '-f', 'dr-details-disable.yaml', '-o', 'json']));
    const detailsPort = doc.serverPorts.find((s) => s.workload.name === 'details-v1');
    assert.equal(detailsPort?.accepts, 'plaintext');
    assert.ok((detailsPort?.plaintextFrom.length ?? 0) >= 1);
    assert.equal(doc.summary.findings, 0);
  });

  test('PERMISSIVE ratings under a DENY AuthorizationPolicy on source namespaces: a conflict, exit 1', () => {
    const r = scan(['-f', 'mesh', '-f', 'authz-ratings.yaml']);
    expectStatus(r, 1);
    assert.match(r.stdout, /^bookinfo +Deployment\/ratings-v1 +9080 +sidecar +PERMISSIVE +mTLS\+plaintext +bookinfo\/ratings spec\.mtls\.mode +- +-$/m);
    assert.match(r.stdout, /^ {2}AUTHZ {5}Deployment bookinfo\/ratings-v1 port 9080 accepts plaintext \(PERMISSIVE\) but AuthorizationPolicy bookinfo\/ratings-deny-legacy \(DENY\) matches peer identity$/m);
    assert.match(r.stdout, /; 1 authorization conflict$/m);
    const doc = scanJson(scan(['-f', 'mesh', '-f', 'authz-ratings.yaml', '-o', 'json']));
    assert.equal(doc.conflicts.length, 1);
    assert.equal(doc.conflicts[0]?.action, 'DENY');
    assert.deepEqual(doc.conflicts[0]?.paths, ['spec.rules[0].from[0].source.namespaces']);
    assert.deepEqual(doc.conflicts[0]?.server.setBy, { kind: 'PeerAuthentication', namespace: 'bookinfo', name: 'ratings', path: 'spec.mtls.mode' });
  });

  test('files in any order, or on stdin, give the same output', () => {
    const a = scan(['-f', 'mesh', '-f', 'dr-details-disable.yaml', '-o', 'json']);
    const b = scan(['-f', 'dr-details-disable.yaml', '-f', 'mesh/services.yaml', '-f', 'mesh/deployments.yaml', '-f', 'mesh/namespaces.yaml', '-f', 'mesh/mesh-strict.yaml', '-o', 'json']);
    assert.equal(b.stdout, a.stdout);
    const docs = ['mesh/namespaces.yaml', 'mesh/mesh-strict.yaml', 'mesh/services.yaml', 'mesh/deployments.yaml', 'dr-details-disable.yaml'];
    const stdin = docs.map((f) => readFileSync(join(SCAN_FIXTURES, f), 'utf8')).join('\n---\n');
    assert.equal(scan(['-f', '-', '-o', 'json'], stdin).stdout, a.stdout);
  });

  test('-o policyreport: a ClusterPolicyReport and the bookinfo PolicyReport with the failure', () => {
    const r = scan(['-f', 'mesh', '-f', 'dr-details-disable.yaml', '-o', 'policyreport']);
    expectStatus(r, 1);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as PolicyReport);
    assert.deepEqual(docs.map((d) => `${d.kind} ${d.metadata.namespace ?? ''}`), ['ClusterPolicyReport ', 'PolicyReport bookinfo']);
    const bookinfo = docs[1] as PolicyReport;
    assert.ok(bookinfo.results.some((x) => x.rule === 'destinationrule-strict-conflict' && x.result === 'fail'));
    assert.equal(bookinfo.results.filter((x) => x.rule === 'plaintext-port').length, 4);
  });

  test('bad input exits 2 as check does', () => {
    const r = scan(['-f', 'no-such-dir']);
    expectStatus(r, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: no-such-dir: /m);
    expectStatus(scan(['-f', 'mesh', '-o', 'yaml']), 2);
  });

  test("README's table is what scan prints", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Scan the mesh'));
    const block = /```console\n\$ npx mtls-guard scan -f test\/fixtures\/scan\/mesh -f test\/fixtures\/scan\/dr-details-disable\.yaml\n([\s\S]*?)\$ echo \$\?\n(\d)\n```/.exec(section);
    assert.ok(block, 'the console block of README "Scan the mesh"');
    const r = run(['scan', '-f', 'test/fixtures/scan/mesh', '-f', 'test/fixtures/scan/dr-details-disable.yaml'], { cwd: ROOT });
    assert.equal(r.stdout, block[1], 'update the README table from the real output');
    assert.equal(String(r.status), block[2]);
  });

  test('NO_COLOR and pipes: no escape codes', () => {
    assert.ok(!scan(['-f', 'mesh']).stdout.includes('\u001b'));
  });
});
