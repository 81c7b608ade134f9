// `mtls-guard serve --cluster/--no-cluster/--kubeconfig` in a child process: the flags are
// checked, `--kubeconfig` turns cluster mode on (the server watches the fake API server and
// logs it), and without a kubeconfig or a pod's environment the server judges objects alone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { FakeApi } from './cluster-fake-api.js';
import { tempDir, waitFor } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const main = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** Every child started, so a failing test never leaves one running (its pipes would keep the test
 * file's process alive, and the run would hang instead of failing). */
const children = new Set<{ kill: (signal: NodeJS.Signals) => boolean }>();

function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

function serve(args: string[], env: NodeJS.ProcessEnv = {}): { out: () => string; exit: Promise<number | null>; stop: () => void } {
  const childEnv = { ...process.env, ...env };
  delete childEnv['KUBERNETES_SERVICE_HOST'];
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', '--port', '0', '--metrics-port', '0', '--host', '127.0.0.1', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv,
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  children.add(child);
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    children.delete(child);
    resolve(code);
  }));
  return { out: () => out, exit, stop: () => void child.kill('SIGTERM') };
}

describe('serve: cluster mode flags', () => {
  test('--no-cluster with --kubeconfig, and an unreadable --kubeconfig, exit 2', async () => {
    const both = serve(['--no-cluster', '--kubeconfig', 'kubeconfig']);
    assert.equal(await both.exit, 2);
    assert.match(both.out(), /--kubeconfig is given with --no-cluster/);
    const missing = serve(['--kubeconfig', '/nonexistent/kubeconfig']);
    assert.equal(await missing.exit, 2);
    assert.match(missing.out(), /--kubeconfig \/nonexistent\/kubeconfig: cannot read the file \(ENOENT\)/);
  });

  test('--kubeconfig: watches the cluster; neither flag nor a pod: judges alone', async () => {
    const api = new FakeApi();
    await api.listen();
    const { dir, remove } = await tempDir();
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: fake, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: fake, user: u}}]\ncurrent-context: c\n`,
    );
    try {
      const on = serve(['--kubeconfig', kubeconfig]);
      // Both: a SIGTERM before serve's own handler is installed would not stop the process.
      await waitFor('the informers to sync', () => on.out().includes('"msg":"informer synced"') && on.out().includes('mtls-guard is serving'), 60_000).catch((err: unknown) => {
        throw new Error(`${err instanceof Error ? err.message : String(err)}; server output:\n${on.out()}`);
      });
      on.stop();
      assert.equal(await on.exit, 0);
      assert.ok(api.requests.includes('/api/v1/services'));

      const off = serve([], { KUBECONFIG: kubeconfig });
      await waitFor('the server to serve', () => off.out().includes('mtls-guard is serving'), 60_000).catch((err: unknown) => {
        throw new Error(`${err instanceof Error ? err.message : String(err)}; server output:\n${off.out()}`);
      });
      off.stop();
      assert.equal(await off.exit, 0);
      assert.doesNotMatch(off.out(), /cluster mode/, 'KUBECONFIG alone does not turn cluster mode on');
    } finally {
      killAll();
      await api.close();
      await remove();
    }
  });
});
