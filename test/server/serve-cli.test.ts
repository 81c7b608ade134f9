// `mtls-guard serve` in a child process: exit 2 with the flag or file named on bad input, a
// self-signed localhost certificate when none is given, SIGHUP → re-read files and keep serving,
// and SIGTERM → drain → exit 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { access, readFile, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { tempDir, waitFor } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const main = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

describe('serve: bad input exits 2 naming the flag or file', () => {
  const cases: [string, (dir: string) => Promise<string[]>, RegExp][] = [
    ['--tls-cert without --tls-key', async () => ['--tls-cert', 'tls.crt'], /--tls-cert is given without --tls-key/],
    ['an unreadable --config', async (dir) => ['--config', join(dir, 'absent.yaml')], /--config .*absent\.yaml: cannot read the file \(ENOENT\)/],
    ['a bad --port', async () => ['--port', 'https'], /--port: expected a port number 0-65535, got "https"/],
    [
      'an invalid policy',
      async (dir) => {
        await writeFile(join(dir, 'policy.yaml'), 'mode: loose\n');
        return ['--config', join(dir, 'policy.yaml'), '--port', '0', '--metrics-port', '0', '--host', '127.0.0.1'];
      },
      /policy\.yaml: mode: /,
    ],
    [
      'a certificate not valid for --tls-server-name',
      async (dir) => {
        const { generateCa, generateServing } = await import('../../src/certs/generate.js');
        const ca = await generateCa({ commonName: 'test CA' });
        const serving = await generateServing(ca, { dnsNames: ['localhost'], ipAddresses: [] });
        await writeFile(join(dir, 'tls.crt'), serving.cert);
        await writeFile(join(dir, 'tls.key'), serving.key);
        const tls = ['--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key')];
        return [...tls, '--tls-server-name', 'mtls-guard.mtls-guard.svc', '--port', '0', '--metrics-port', '0', '--host', '127.0.0.1'];
      },
      /not valid for mtls-guard\.mtls-guard\.svc \(its names: DNS:localhost\)/,
    ],
    ['a --tls-server-name that is no DNS name', async () => ['--tls-server-name', 'not a name'], /--tls-server-name: expected a DNS name, got "not a name"/],
    [
      'an empty policy file',
      async (dir) => {
        await writeFile(join(dir, 'policy.yaml'), '# filled in later\n');
        return ['--config', join(dir, 'policy.yaml'), '--port', '0', '--metrics-port', '0', '--host', '127.0.0.1'];
      },
      /policy\.yaml: the policy file is empty \(nothing but whitespace or comments\); write \{\} for every default, or leave out --config/,
    ],
  ];
  for (const [name, args, message] of cases) {
    test(name, async () => {
      const { dir, remove } = await tempDir();
      try {
        const r = run(await args(dir));
        assert.equal(await r.exit, 2, r.stderr());
        assert.match(r.stderr(), message);
      } finally {
        await remove();
      }
    });
  }
});

test('serve --help describes the flags', async () => {
  const r = run(['--help']);
  assert.equal(await r.exit, 0);
  for (const flag of ['--config <file>', '--tls-cert <file>', '--tls-key <file>', '--client-ca <file>', '--port <port>', '--metrics-port <port>', '--shutdown-grace-seconds']) {
    assert.ok(r.stdout().includes(flag), `help mentions ${flag}`);
  }
});

test('serve without a certificate makes a localhost one, says where its CA is, and drains on SIGTERM', async () => {
  const r = run(['--port', '0', '--metrics-port', '0', '--host', '127.0.0.1']);
  try {
    await waitFor('the server to start', () => r.stdout().includes('mtls-guard is serving'), 15_000);
    const caFile = /its CA is (\S+ca\.crt)/.exec(r.stderr())?.[1];
    assert.ok(caFile, r.stderr());
    const serving = r
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; port?: number })
      .find((l) => l.msg === 'mtls-guard is serving');
    assert.ok(serving?.port);
    const ca = await readFile(caFile);
    // Verified as "localhost", the name a developer's curl uses.
    const status = await new Promise<number>((resolve, reject) => {
      get({ host: '127.0.0.1', servername: 'localhost', port: serving.port, path: '/healthz', ca, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 200);

    r.child.kill('SIGTERM');
    assert.equal(await r.exit, 0);
    assert.match(r.stdout(), /"signal":"SIGTERM".*draining before exit/);
    assert.match(r.stdout(), /mtls-guard stopped/);
    await assert.rejects(access(caFile), 'the temporary certificate directory is removed');
  } finally {
    r.child.kill('SIGKILL');
  }
});

test('serve survives SIGHUP: it logs, re-reads the policy and certificate, and keeps serving', async () => {
  const { dir, remove } = await tempDir();
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, 'mode: enforce\n');
  const r = run(['--port', '0', '--metrics-port', '0', '--host', '127.0.0.1', '--config', policyFile]);
  try {
    await waitFor('the server to start', () => r.stdout().includes('mtls-guard is serving'), 15_000);
    const port = r
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; port?: number })
      .find((l) => l.msg === 'mtls-guard is serving')?.port;
    assert.ok(port);
    const healthz = (): Promise<number> =>
      new Promise((resolve, reject) => {
        get({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
    assert.equal(await healthz(), 200);

    r.child.kill('SIGHUP');
    await waitFor('the re-read to be logged', () => r.stdout().includes('policy and certificate files re-read') || r.child.exitCode !== null || r.child.signalCode !== null, 10_000);
    assert.equal(r.child.signalCode, null, `SIGHUP did not kill the server: ${r.stderr()}`);
    assert.equal(r.child.exitCode, null);
    assert.match(r.stdout(), /"signal":"SIGHUP".*re-reading the policy and certificate files/);
    assert.match(r.stdout(), /"msg":"policy reloaded"/);
    assert.equal(await healthz(), 200, 'still serving on the same port');

    r.child.kill('SIGTERM');
    assert.equal(await r.exit, 0);
  } finally {
    r.child.kill('SIGKILL');
    await remove();
  }
});
