// Reading the manifests of `check` and `scan`: the same inputs (files, folders, `-`), the same
// problems with the same words, the same "nothing to do" rule, so both commands refuse bad input
// alike. Problems are collected (errors as values) and reported once, on stderr, with exit 2.
import { EXIT_USAGE } from './exit-codes.js';
import { InputError, listInputs, readDocuments, STDIN_NAME } from './inputs.js';
import { parseDocument, type Manifest } from './manifests.js';
import { readCheckPolicy } from './policy-file.js';
import type { Policy } from '../engine/index.js';

/** Errors kept in full; beyond this many only a count, so a file of bad documents stays small in memory. */
const MAX_REPORTED_ERRORS = 100;

/** The problems found with a command's input, the first hundred in full. */
export class InputProblems {
  readonly shown: string[] = [];
  count = 0;

  add(...messages: string[]): void {
    for (const m of messages) {
      this.count++;
      if (this.shown.length < MAX_REPORTED_ERRORS) this.shown.push(m);
    }
  }
}

/**
 * Writes the problems to stderr, ending with `mtls-guard <command>: N problems with the input;
 * nothing was <done>`.
 * @returns the exit status for bad input (2).
 */
export function reportInputProblems(stderr: { write(text: string): unknown }, problems: InputProblems, command: string, done: string): number {
  for (const e of problems.shown) stderr.write(`error: ${e}\n`);
  const hidden = problems.count - problems.shown.length;
  if (hidden > 0) stderr.write(`error: … and ${hidden} more\n`);
  stderr.write(`mtls-guard ${command}: ${problems.count} problem${problems.count === 1 ? '' : 's'} with the input; nothing was ${done}\n`);
  return EXIT_USAGE;
}

/** The options both commands share, checked, and the policy read (undefined when it is bad). */
export async function readCommonOptions(
  opts: { filename?: string[]; namespace: string; config?: string },
  problems: InputProblems,
): Promise<Policy | undefined> {
  if ((opts.filename ?? []).length === 0) problems.add('no manifests given: use -f PATH (a file, a folder, or - for stdin)');
  if (opts.namespace.trim() === '') problems.add('--namespace must not be empty');
  const policyResult = await readCheckPolicy(opts.config);
  if (!policyResult.ok) problems.add(...policyResult.errors.map((e) => `invalid policy: ${e}`));
  return policyResult.ok ? policyResult.policy : undefined;
}

function noObjectsMessage(empty: readonly string[], nothingTo: string): string {
  const what = empty.length === 1 ? (empty[0] === STDIN_NAME ? 'standard input (-f -)' : empty[0]) : `${empty.length} inputs`;
  const hint = empty.includes(STDIN_NAME) ? '; if a generator (kustomize build, helm template) feeds -f -, it printed nothing' : '';
  return `no objects found in ${what}: nothing to ${nothingTo}, as \`kubectl apply\` says "no objects passed to apply"${hint}`;
}

/**
 * Reads every input one document at a time and hands each manifest to `use` while no problem has
 * been seen (after one, the rest is still read, for its problems only). No object at all in any
 * input is a problem too, as for `kubectl apply`.
 * @param nothingTo the verb of that problem: "check", "scan".
 * @throws only for a bug: read and parse errors become problems.
 */
export async function forEachManifest(
  filenames: readonly string[],
  openStdin: () => AsyncIterable<Uint8Array>,
  problems: InputProblems,
  nothingTo: string,
  use: (manifest: Manifest) => void,
): Promise<void> {
  const listed = await listInputs(filenames, openStdin);
  problems.add(...listed.errors);
  const empty: string[] = [];
  for (const source of listed.sources) {
    let objects = 0;
    try {
      for await (const doc of readDocuments(source)) {
        const parsed = parseDocument(doc, source.name);
        problems.add(...parsed.errors);
        objects += parsed.manifests.length;
        if (problems.count > 0) continue;
        for (const m of parsed.manifests) use(m);
      }
    } catch (err) {
      if (err instanceof InputError) problems.add(err.message);
      else if (err instanceof RangeError) problems.add(`${source.name}: too large to read: ${err.message}`);
      else throw err;
    }
    if (objects === 0) empty.push(source.name);
  }
  if (listed.sources.length > 0 && empty.length === listed.sources.length && problems.count === 0) problems.add(noObjectsMessage(empty, nothingTo));
}
