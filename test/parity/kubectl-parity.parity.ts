// `check` reads manifests exactly as kubectl does: every file under test/parity/corpus/ is read by
// the pinned kubectl of the end-to-end tool chain and by check's reader, and the objects must be
// deep-equal, or both must refuse the file. Run with
//   E2E_BIN=$(scripts/e2e-tools.sh | tail -1) node --import tsx --test test/parity/kubectl-parity.parity.ts
// (the script builds or reuses the tool chain); without kubectl this test fails, it never skips.
// Named *.parity.ts, not *.test.ts, so that `npm test` (every *.test.ts outside e2e/ and
// reliability/) does not need the tool chain.
//
// `kubectl create --dry-run=client -o json --validate=false` prints the objects kubectl would send
// without a cluster, but it still maps each kind to a resource through API discovery (`--local`
// commands do not, but they cannot read List kinds). So the test serves a fixed discovery document
// on 127.0.0.1 for the kinds the corpus uses; nothing else is asked of the "server".
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InputError, readDocuments } from '../../src/cli/inputs.js';
import { parseDocument, type JsonRecord } from '../../src/cli/manifests.js';

const CORPUS = join(import.meta.dirname, 'corpus');

/**
 * Files where check deliberately refuses what kubectl accepts: the safe direction (exit 2, never a
 * pass). Every other file must match kubectl exactly.
 */
const CHECK_STRICTER: Record<string, string> = {
  'latin1.yaml': 'kubectl turns bytes that are not UTF-8 into U+FFFD and applies the result; check asks for UTF-8',
  'key-collision.yaml': 'two keys spelt "80" reach JSON in Go map order, so kubectl keeps one at random; check refuses',
  'line-separator.yaml': 'go-yaml (YAML 1.1) reads U+2028, U+2029 and U+0085 as line breaks, the yaml package (YAML 1.2) does not; check refuses them',
  'escape-quote.yaml': "go-yaml accepts \\' in a double-quoted string, the yaml package does not; check refuses it",
};

/** The API groups and kinds of the corpus, as legacy discovery documents. */
const RESOURCES: Record<string, [plural: string, kind: string, namespaced: boolean][]> = {
  v1: [
    ['configmaps', 'ConfigMap', true],
    ['secrets', 'Secret', true],
    ['namespaces', 'Namespace', false],
  ],
  'networking.istio.io/v1': [['destinationrules', 'DestinationRule', true]],
  'security.istio.io/v1': [['peerauthentications', 'PeerAuthentication', true]],
};

function discovery(path: string): unknown {
  const resources = (groupVersion: string): unknown => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: (RESOURCES[groupVersion] ?? []).map(([name, kind, namespaced]) => ({ name, singularName: kind.toLowerCase(), namespaced, kind, verbs: ['create', 'get'] })),
  });
  if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] };
  if (path === '/api/v1') return resources('v1');
  if (path === '/apis') {
    const groups = Object.keys(RESOURCES).filter((gv) => gv.includes('/'));
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: groups.map((gv) => {
        const [name, version] = gv.split('/') as [string, string];
        return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
      }),
    };
  }
  const m = /^\/apis\/(.+)$/.exec(path);
  return m && RESOURCES[m[1] as string] ? resources(m[1] as string) : undefined;
}

function kubectlPath(): string {
  const explicit = process.env['MTLS_GUARD_KUBECTL'];
  const bin = process.env['E2E_BIN'];
  const path = explicit ?? (bin ? join(bin, 'kubectl') : undefined);
  assert.ok(
    path && existsSync(path),
    `kubectl not found${path ? ` at ${path}` : ''}: this test compares check with the pinned kubectl of the e2e tool chain. ` +
      'Build the tools with `BIN=$(scripts/e2e-tools.sh | tail -1)` (a cold build takes 10+ minutes, then it is cached) ' +
      'and run `E2E_BIN=$BIN node --import tsx --test test/parity/kubectl-parity.parity.ts`.',
  );
  return path;
}

interface Outcome {
  objects: JsonRecord[];
  /** Why it was refused; undefined when accepted. */
  refused?: string;
}

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** kubectl prints one indented JSON object after another. */
function jsonObjects(stdout: string): JsonRecord[] {
  return stdout
    .split(/^(?=\{$)/m)
    .filter((s) => s.trim() !== '')
    .map((s) => JSON.parse(s) as JsonRecord);
}

async function readWithKubectl(kubectl: string, kubeconfig: string, file: string): Promise<Outcome> {
  const r = await run(kubectl, ['--kubeconfig', kubeconfig, 'create', '--dry-run=client', '--validate=false', '-o', 'json', '-f', file]);
  if (r.code !== 0) return { objects: jsonObjects(r.stdout), refused: r.stderr.trim() || `exit ${r.code}` };
  return { objects: jsonObjects(r.stdout) };
}

async function readWithCheck(file: string): Promise<Outcome> {
  const objects: JsonRecord[] = [];
  const errors: string[] = [];
  try {
    for await (const doc of readDocuments({ name: file, open: () => createReadStream(file) })) {
      const parsed = parseDocument(doc, file);
      objects.push(...parsed.manifests.map((m) => m.object));
      errors.push(...parsed.errors);
    }
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    errors.push(err.message);
  }
  if (errors.length === 0 && objects.length === 0) errors.push('no objects');
  return errors.length ? { objects, refused: errors.join('\n') } : { objects };
}

/** kubectl fills in the kubeconfig's namespace (default) for namespaced objects that name none. */
function withoutDefaultedNamespace(fromKubectl: JsonRecord, fromCheck: JsonRecord): JsonRecord {
  const checkMetadata = fromCheck['metadata'] as JsonRecord | undefined;
  if (checkMetadata && 'namespace' in checkMetadata) return fromKubectl;
  const metadata = { ...(fromKubectl['metadata'] as JsonRecord | undefined) };
  if (metadata['namespace'] !== 'default') return fromKubectl;
  delete metadata['namespace'];
  const copy: JsonRecord = { ...fromKubectl, metadata };
  if (!checkMetadata && Object.keys(metadata).length === 0) delete copy['metadata'];
  return copy;
}

let server: Server;
let work: string;
let kubeconfig: string;
let kubectl: string;

before(async () => {
  kubectl = kubectlPath();
  server = createServer((req, res) => {
    const body = discovery((req.url ?? '').split('?')[0] as string);
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  work = mkdtempSync(join(tmpdir(), 'mtls-guard-parity-'));
  kubeconfig = join(work, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'discovery-only', cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: 'nobody', user: { token: 'unused' } }],
      contexts: [{ name: 'parity', context: { cluster: 'discovery-only', user: 'nobody' } }],
      'current-context': 'parity',
    }),
  );
});

after(() => {
  server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('check reads every corpus file as kubectl does', () => {
  const files = readdirSync(CORPUS).sort();
  test('the corpus is there', () => assert.ok(files.length >= 40, `only ${files.length} files in ${CORPUS}`));
  for (const name of files) {
    test(name, async () => {
      const file = join(CORPUS, name);
      const [k, c] = await Promise.all([readWithKubectl(kubectl, kubeconfig, file), readWithCheck(file)]);
      const stricter = CHECK_STRICTER[name];
      if (stricter) {
        assert.ok(c.refused, `check should refuse ${name} (${stricter})`);
        assert.ok(!k.refused, `kubectl now refuses ${name} too: move it out of CHECK_STRICTER (${k.refused})`);
        return;
      }
      if (k.refused || c.refused) {
        assert.ok(k.refused, `check refused ${name} but kubectl accepts it:\ncheck: ${c.refused}\nkubectl: ${JSON.stringify(k.objects)}`);
        assert.ok(c.refused, `kubectl refused ${name} but check accepts it:\nkubectl: ${k.refused}\ncheck: ${JSON.stringify(c.objects)}`);
        return;
      }
      assert.equal(c.objects.length, k.objects.length, `number of objects in ${name}`);
      c.objects.forEach((object, i) => assert.deepStrictEqual(object, withoutDefaultedNamespace(k.objects[i] as JsonRecord, object), `object ${i + 1} of ${name}`));
    });
  }
});

