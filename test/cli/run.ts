// Runs the built binary the way a user does (`node bin/mtls-guard.js ...`), so the launcher, the
// compiled output and the exit code are what is tested. Build first: `npm run build`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'mtls-guard.js');
export const FIXTURES = join(ROOT, 'test', 'fixtures', 'cli');
const DIST_ENTRY = join(ROOT, 'dist', 'cli.js');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Fails loudly instead of silently testing an old build. */
export function assertBuilt(): void {
  let built: number;
  try {
    built = statSync(DIST_ENTRY).mtimeMs;
  } catch {
    assert.fail(`${DIST_ENTRY} is missing: run \`npm run build\` before these tests`);
  }
  const source = newestSource(join(ROOT, 'src'));
  assert.ok(source <= built, 'dist/ is older than src/: run `npm run build` before these tests');
}

export function run(args: readonly string[], options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NO_COLOR'];
  delete env['FORCE_COLOR'];
  Object.assign(env, options.env);
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? FIXTURES,
    input: options.input ?? '',
    encoding: 'utf8',
    env,
    timeout: 30_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Asserts the exit status, showing the output when it is wrong. */
export function expectStatus(r: Run, status: number): void {
  assert.equal(r.status, status, `exit ${String(r.status)}, expected ${status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}
