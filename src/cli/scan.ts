// `mtls-guard scan`: the mesh as it stands, from manifests. Registration only; the work (mesh
// model, formatters, YAML) is loaded when the command runs, so other commands start no slower.
import { Option, type Command } from 'commander';
import { processIo, type CheckIo } from './check.js';

export type ScanOutput = 'table' | 'json' | 'policyreport';

export interface ScanOptions {
  filename?: string[];
  config?: string;
  output: ScanOutput;
  namespace: string;
  color: boolean;
  /** `--kubeconfig FILE`: read the mesh from that cluster instead of manifests. */
  kubeconfig?: string;
  /** `--cluster`: read the mesh from the cluster of the default kubeconfig search (or in-cluster). */
  cluster?: boolean;
}

/** The same streams and stdin as `check`. */
export type ScanIo = CheckIo;

const EXAMPLES = `
Exit status: 0 no broken flow and no authorization conflict, 1 at least one, 2 bad input or policy.
Ports that accept plaintext and clients that send it are reported, but do not change the status.

Manifests are read as \`check\` reads them (files, folders, - for stdin) and judged as one mesh:
PeerAuthentications, DestinationRules, Services, ServiceEntries, Namespaces, AuthorizationPolicies
and the workloads' pod templates. Objects without metadata.namespace take --namespace.

With --kubeconfig FILE (or --cluster: KUBECONFIG, ~/.kube/config, in-cluster) the same kinds are
listed from a live cluster instead, read-only, the ones cluster mode watches (the Istio kinds,
DeploymentConfigs, Rollouts and the policy's workloadKinds when served), and printed as an offline
scan of the same objects prints them. It needs get/list on those kinds (the chart's mesh-reader
ClusterRole); a cluster that cannot be read exits 2 naming the kind and the RBAC missing.

Examples:
  $ mtls-guard scan -f deploy/                        # table: one row per workload port
  $ mtls-guard scan -f deploy/ -o json | jq '.flows[] | select(.outcome == "broken")'
  $ mtls-guard scan -f deploy/ -o policyreport | kubectl apply -f -
  $ mtls-guard scan --kubeconfig ~/.kube/config       # the live mesh
`;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Adds `scan` to the program; `io` is replaced in tests. */
export function registerScan(program: Command, io: ScanIo = processIo()): Command {
  return program
    .command('scan')
    .summary('report the mesh built from manifests or a live cluster: modes, plaintext, broken flows')
    .description(
      'Build the mesh from manifests (or a live cluster) and report, per workload port, the mTLS mode in force and the object that set it, the clients that send plaintext or will fail, and authorization policies that plaintext defeats.',
    )
    .option('-f, --filename <path>', 'manifest file, folder, or - for stdin (repeatable)', collect)
    .option('--config <file>', 'policy file (YAML or JSON): mesh root namespace, cluster domain, workload kinds; the built-in defaults without it')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'policyreport']).default('table'))
    .option('-n, --namespace <namespace>', 'namespace of objects that do not name one (manifests only)', 'default')
    .option('--kubeconfig <file>', 'read the mesh from this cluster instead of manifests (read-only; not with -f)')
    .option('--cluster', 'read the mesh from the cluster of KUBECONFIG, ~/.kube/config or in-cluster credentials (not with -f)')
    .option('--no-color', 'never colour the table (colour needs a terminal and NO_COLOR unset)')
    .addHelpText('after', EXAMPLES)
    .action(async (opts: ScanOptions) => {
      const { runScan } = await import('./scan-run.js');
      process.exitCode = await runScan(opts, io);
    });
}
