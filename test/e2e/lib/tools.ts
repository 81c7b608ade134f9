// kubectl and helm as a person runs them: from the repository root, output captured as printed.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { e2eEnv } from './env.js';

export interface Run {
  command: string;
  status: number | null;
  stdout: string;
  stderr: string;
}

function runTool(tool: string, args: readonly string[], input: string | undefined, timeoutMs: number): Run {
  const env = e2eEnv();
  const result = spawnSync(join(env.bin, tool), args, {
    cwd: env.root,
    input: input ?? '',
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: env.kubeconfig },
    timeout: timeoutMs,
  });
  if (result.error) throw result.error;
  return { command: `${tool} ${args.join(' ')}`, status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function kubectl(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Run {
  return runTool('kubectl', args, options.input, options.timeoutMs ?? 60_000);
}

export function helm(args: readonly string[], options: { timeoutMs?: number } = {}): Run {
  return runTool('helm', args, undefined, options.timeoutMs ?? 120_000);
}

/** The whole run, for assertion messages. */
export function show(r: Run): string {
  return `$ ${r.command}\n(exit ${String(r.status)})\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** The `Warning: ...` lines kubectl printed (API server warnings go to stderr). */
export function warnings(r: Run): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('Warning: '));
}
