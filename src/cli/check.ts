// `mtls-guard check`: the webhooks' verdict on manifests, offline, for CI pipelines and GitOps
// repositories. Exit 0: nothing denied; 1: something denied; 2: bad input or policy.
import { Option, type Command } from 'commander';
import type { Mode } from '../engine/types.js';
import { palette, useColour } from './colour.js';
import { formatJson } from './format-json.js';
import { formatText } from './format-text.js';
import { readAllStdin, readInputs } from './inputs.js';
import { checkManifest, type Checked } from './judge.js';
import { parseManifests, type Manifest } from './manifests.js';
import { loadPolicyFile, withForcedMode } from './policy-file.js';

export const EXIT_OK = 0;
export const EXIT_DENIED = 1;
export const EXIT_USAGE = 2;

export interface CheckOptions {
  filename?: string[];
  config?: string;
  output: 'text' | 'json';
  namespace: string;
  mode?: Mode;
  color: boolean;
}

export interface CheckIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
  readStdin: () => Promise<string>;
}

const EXAMPLES = `
Exit status: 0 nothing denied, 1 at least one object denied, 2 bad input or policy.

Folders are read recursively (*.yaml, *.yml, *.json; hidden entries such as .git are skipped).
Each object is judged as a CREATE: the verdict of validate.mtls-guard.io and the patch of
mutate.mtls-guard.io. Objects without metadata.namespace take --namespace.

Examples:
  $ mtls-guard check -f deploy/                          # a whole GitOps folder
  $ mtls-guard check -f pa.yaml -f dr.yaml --config policy.yaml
  $ kustomize build overlays/prod | mtls-guard check -f - -n bookinfo
  $ helm template charts/app | mtls-guard check -f - -o json | jq '.results[] | select(.allowed == false)'
  $ mtls-guard check -f deploy/ --mode audit             # report only: never exits 1
`;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerCheck(program: Command, io: CheckIo = processIo()): Command {
  return program
    .command('check')
    .summary('evaluate manifests offline with the webhook rules')
    .description('Evaluate Kubernetes manifests offline with the same engine and policy as the admission webhooks.')
    .option('-f, --filename <path>', 'manifest file, folder, or - for stdin (repeatable)', collect)
    .option('--config <file>', 'policy file (YAML or JSON); the built-in defaults without it')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-n, --namespace <namespace>', 'namespace of objects that do not name one', 'default')
    .addOption(new Option('--mode <mode>', 'force this mode for every object (ignores the policy mode and namespaces[])').choices(['enforce', 'audit']))
    .option('--no-color', 'never colour the text output (colour needs a terminal and NO_COLOR unset)')
    .addHelpText('after', EXAMPLES)
    .action(async (opts: CheckOptions) => {
      process.exitCode = await runCheck(opts, io);
    });
}

export function processIo(): CheckIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, readStdin: readAllStdin };
}

function reportErrors(io: CheckIo, errors: readonly string[]): number {
  for (const e of errors) io.stderr.write(`error: ${e}\n`);
  io.stderr.write(`mtls-guard check: ${errors.length} problem${errors.length === 1 ? '' : 's'} with the input; nothing was judged\n`);
  return EXIT_USAGE;
}

export async function runCheck(opts: CheckOptions, io: CheckIo): Promise<number> {
  const errors: string[] = [];
  const filenames = opts.filename ?? [];
  if (filenames.length === 0) errors.push('no manifests given: use -f PATH (a file, a folder, or - for stdin)');
  if (opts.namespace.trim() === '') errors.push('--namespace must not be empty');
  const policyResult = await loadPolicyFile(opts.config);
  if (!policyResult.ok) errors.push(...policyResult.errors.map((e) => `invalid policy: ${e}`));

  const read = await readInputs(filenames, io.readStdin);
  errors.push(...read.errors);
  const manifests: Manifest[] = [];
  for (const input of read.inputs) {
    const parsed = parseManifests(input.text, input.name);
    manifests.push(...parsed.manifests);
    errors.push(...parsed.errors);
  }
  if (errors.length || !policyResult.ok) return reportErrors(io, errors);

  const policy = withForcedMode(policyResult.policy, opts.mode);
  const checked: Checked[] = manifests.map((m) => checkManifest(m, policy, opts.namespace));
  if (opts.output === 'json') io.stdout.write(formatJson(checked));
  else io.stdout.write(formatText(checked, palette(useColour(io.stdout, io.env, opts.color))));
  return checked.some((c) => !c.allowed) ? EXIT_DENIED : EXIT_OK;
}
