// `mtls-guard serve --kubeconfig --no-policy-reports` in a child process: the flag reaches cluster
// mode (the /readyz detail says the reports are disabled) and no report is written to the fake
// API server (with its wgpolicyk8s.io reports API). Writing them by default is shown in process
// (cluster-reports.test.ts) and through the real API server (e2e 11).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { FakeApi, PATHS } from './cluster-fake-api.js';
import { FakeReportsApi } from './cluster-reports-fake.js';
import { tempDir, waitFor } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const main = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

const children = new Set<{ kill: (signal: NodeJS.Signals) => boolean }>();

function serve(args: string[]): { out: () => string; exit: Promise<number | null>; stop: () => void } {
  const env = { ...process.env };
  delete env['KUBERNETES_SERVICE_HOST'];
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', '--port', '0', '--metrics-port', '0', '--host', '127.0.0.1', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  children.add(child);
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { out: () => out, exit, stop: () => void child.kill('SIGTERM') };
}

function metricsPort(out: string): number {
  const line = out.split('\n').find((l) => l.includes('"msg":"mtls-guard is serving"'));
  assert.ok(line, out);
  return (JSON.parse(line) as { metricsPort: number }).metricsPort;
}

describe('serve: PolicyReports in cluster mode', () => {
  test('--no-policy-reports: none written, and /readyz says so', async () => {
    const api = new FakeApi();
    await api.listen();
    api.put(PATHS.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bookinfo', labels: { 'istio-injection': 'enabled' } } });
    api.put(PATHS.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: 'bookinfo' }, spec: { selector: { app: 'reviews' }, ports: [{ port: 9080 }] } });
    api.put(PATHS.deployments, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'reviews-v1', namespace: 'bookinfo' },
      spec: { selector: { matchLabels: { app: 'reviews' } }, template: { metadata: { labels: { app: 'reviews' } }, spec: { containers: [{ name: 'reviews', image: 'reviews:1', ports: [{ containerPort: 9080 }] }] } } },
    });
    const reports = new FakeReportsApi(api);
    await reports.listen();
    const { dir, remove } = await tempDir();
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: fake, cluster: {server: "${reports.url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: fake, user: u}}]\ncurrent-context: c\n`,
    );
    const explain = (s: { out: () => string }) => (err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; server output:\n${s.out()}`);
    };
    try {
      const off = serve(['--kubeconfig', kubeconfig, '--no-policy-reports']);
      await waitFor('the informers to sync', () => off.out().includes('"msg":"informer synced"') && off.out().includes('mtls-guard is serving'), 60_000).catch(explain(off));
      const ready = (await (await fetch(`http://127.0.0.1:${metricsPort(off.out())}/readyz`)).json()) as { cluster?: { policyReports?: string } };
      assert.equal(ready.cluster?.policyReports, 'disabled (--no-policy-reports)', JSON.stringify(ready));
      off.stop();
      assert.equal(await off.exit, 0);
      assert.deepEqual(reports.writes, []);

    } finally {
      for (const c of children) c.kill('SIGKILL');
      await reports.close();
      await api.close();
      await remove();
    }
  });
});
