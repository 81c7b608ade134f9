// The `mtls-guard` command: wiring only. Each command lives in src/cli/<name>.ts and sets
// process.exitCode instead of exiting, so pending output is flushed and a server can keep running.
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerCerts } from './cli/certs.js';
import { registerCheck } from './cli/check.js';
import { registerScan } from './cli/scan.js';
import { registerServe } from './cli/serve.js';
import { EXIT_USAGE } from './cli/exit-codes.js';
import { errorMessage } from './util/errors.js';


const EXAMPLES = `
Examples:
  $ mtls-guard serve --config policy.yaml --tls-cert tls.crt --tls-key tls.key
  $ mtls-guard check -f manifests/ --config policy.yaml
  $ mtls-guard scan -f manifests/ -o policyreport
  $ mtls-guard certs --service mtls-guard --namespace mtls-guard --out certs/

Run 'mtls-guard <command> --help' for a command's options.
`;

function packageVersion(): string {
  try {
    // dist/cli.js and src/cli.ts both sit one level below package.json.
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function buildProgram(): Command {
  const program = new Command('mtls-guard')
    .description('Admission webhook that keeps service-mesh mutual TLS from being switched off by accident.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError("(run with --help for usage)")
    .showSuggestionAfterError(true)
    // Thrown instead of process.exit(), so main() maps usage errors to exit 2.
    .exitOverride()
    .addHelpText('after', EXAMPLES);
  // Commands copy exitOverride and output settings when created, so register them after.
  registerServe(program);
  registerCheck(program);
  registerScan(program);
  registerCerts(program);
  return program;
}

/** `mtls-guard check ... | head`: a reader that stops early is not an error worth a stack trace. */
function tolerateClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return;
    process.stderr.write(`mtls-guard: cannot write output: ${err.message}\n`);
    process.exitCode = EXIT_USAGE;
  });
}

export async function main(argv: string[]): Promise<void> {
  tolerateClosedStdout();
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with exit code 0; everything else commander rejects is usage.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    // Commands report expected problems themselves; reaching here is a bug in mtls-guard.
    const message = errorMessage(err);
    process.stderr.write(`mtls-guard: internal error: ${message}\n(this is a bug in mtls-guard; please report it)\n`);
    process.exitCode = EXIT_USAGE;
  }
}

/** True when this module is the process entry point (`node dist/cli.js serve`, the container's
 * ENTRYPOINT); the bin launcher imports main() instead. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) void main(process.argv.slice(2));
