// `mtls-guard certs`: a CA and a serving certificate for the webhook Service, written under the
// names a Kubernetes TLS secret uses, plus the caBundle for the webhook configurations.
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Command } from 'commander';
import { EXIT_USAGE } from './exit-codes.js';
import { errorMessage } from '../util/errors.js';

const PUBLIC_MODE = 0o644;
const SECRET_MODE = 0o600;

export interface CertsOptions {
  service?: string;
  namespace?: string;
  out: string;
  dns?: string[];
  ip?: string[];
  days: string;
  force?: boolean;
}

interface Output {
  write(text: string): unknown;
}

const EXAMPLES = `
The serving certificate's SANs are NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.cluster.local
(the API server calls the webhook by the Service's DNS name and rejects CN-only certificates).
Keys are ECDSA P-256 in PKCS#8 PEM, written with mode 0600.

Examples:
  $ mtls-guard certs --service mtls-guard --namespace mtls-guard --out certs/
  $ mtls-guard certs --service mtls-guard --namespace mtls-guard --dns localhost --ip 127.0.0.1
  $ kubectl -n mtls-guard create secret tls mtls-guard-tls --cert certs/tls.crt --key certs/tls.key
`;

// Service and namespace names are DNS labels (RFC 1123; a Service name must also start with a letter).
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SERVICE_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_NAME = /^(\*\.)?([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerCerts(program: Command, out: Output = process.stdout, err: Output = process.stderr): Command {
  return program
    .command('certs')
    .summary('write a CA and a serving certificate for the webhook Service')
    .description('Write ca.crt, ca.key, tls.crt and tls.key: a new CA and a serving certificate it signs for the webhook Service.')
    .option('--service <name>', 'name of the webhook Service (required)')
    .option('--namespace <namespace>', 'namespace of the webhook Service (required)')
    .option('--out <dir>', 'folder to write into (created if missing)', '.')
    .option('--dns <name>', 'extra DNS SAN (repeatable)', collect)
    .option('--ip <address>', 'extra IP SAN (repeatable)', collect)
    .option('--days <n>', 'validity of the serving certificate in days (the CA gets 10 years)', '365')
    .option('--force', 'overwrite existing files in --out')
    .addHelpText('after', EXAMPLES)
    .action(async (opts: CertsOptions) => {
      process.exitCode = await runCerts(opts, out, err);
    });
}

function validate(opts: CertsOptions): { errors: string[]; days: number } {
  const errors: string[] = [];
  if (!opts.service) errors.push('--service is required: the name of the webhook Service');
  else if (opts.service.length > 63 || !SERVICE_NAME.test(opts.service)) {
    errors.push(`--service ${opts.service}: not a valid Service name (lower-case letters, digits and '-', starting with a letter, at most 63)`);
  }
  if (!opts.namespace) errors.push('--namespace is required: the namespace of the webhook Service');
  else if (opts.namespace.length > 63 || !DNS_LABEL.test(opts.namespace)) {
    errors.push(`--namespace ${opts.namespace}: not a valid namespace name (lower-case letters, digits and '-', at most 63)`);
  }
  for (const name of opts.dns ?? []) if (name.length > 253 || !DNS_NAME.test(name)) errors.push(`--dns ${name}: not a valid DNS name`);
  for (const ip of opts.ip ?? []) if (isIP(ip) === 0) errors.push(`--ip ${ip}: not an IPv4 or IPv6 address`);
  const days = Number(opts.days);
  if (!Number.isInteger(days) || days <= 0) errors.push(`--days ${opts.days}: must be a whole number of days above 0`);
  return { errors, days };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function errorText(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file is in the way (not a folder)';
  if (code === 'EROFS') return 'read-only file system';
  return errorMessage(e);
}

/**
 * Writes with the exact mode: writeFile's mode applies only to new files and is masked by umask.
 * The content is written while the file is 0600, so a key is never readable by others.
 */
async function writeExact(path: string, text: string, mode: number): Promise<void> {
  if (await exists(path)) await chmod(path, SECRET_MODE);
  await writeFile(path, text, { mode: SECRET_MODE });
  await chmod(path, mode);
}

function fail(err: Output, errors: readonly string[]): number {
  for (const e of errors) err.write(`error: ${e}\n`);
  return EXIT_USAGE;
}

export async function runCerts(opts: CertsOptions, out: Output, err: Output): Promise<number> {
  const { errors, days } = validate(opts);
  if (errors.length) return fail(err, errors);
  // Loaded when `certs` runs, not when the CLI starts, so other commands never load the X.509 library.
  const { generateCa, generateServing, serviceDnsNames } = await import('../certs/generate.js');
  const service = opts.service as string;
  const namespace = opts.namespace as string;
  const dnsNames = [...new Set([...serviceDnsNames(service, namespace), ...(opts.dns ?? [])])];
  const ipAddresses = [...new Set(opts.ip ?? [])];

  const files = { ca: join(opts.out, 'ca.crt'), caKey: join(opts.out, 'ca.key'), cert: join(opts.out, 'tls.crt'), key: join(opts.out, 'tls.key') };
  try {
    await mkdir(opts.out, { recursive: true });
  } catch (e) {
    return fail(err, [`--out ${opts.out}: cannot create folder: ${errorText(e)}`]);
  }
  if (!opts.force) {
    const present = [];
    for (const f of Object.values(files)) if (await exists(f)) present.push(f);
    // Replacing a CA that a cluster already trusts breaks every webhook call: make it deliberate.
    if (present.length) return fail(err, [`${present.join(', ')} already exist${present.length === 1 ? 's' : ''}; use --force to overwrite`]);
  }

  const ca = await generateCa({ commonName: `mtls-guard CA (${service}.${namespace})` });
  const serving = await generateServing(ca, { dnsNames, ipAddresses, commonName: `${service}.${namespace}.svc`, days });
  try {
    await writeExact(files.ca, ca.cert, PUBLIC_MODE);
    await writeExact(files.caKey, ca.key, SECRET_MODE);
    await writeExact(files.cert, serving.cert, PUBLIC_MODE);
    await writeExact(files.key, serving.key, SECRET_MODE);
  } catch (e) {
    return fail(err, [`--out ${opts.out}: cannot write certificates: ${errorText(e)}`]);
  }

  const caValidTo = new X509Certificate(ca.cert).validTo;
  const servingValidTo = new X509Certificate(serving.cert).validTo;
  const sans = [...dnsNames, ...ipAddresses].join(', ');
  out.write(
    [
      `wrote ${files.ca}   CA certificate (valid until ${caValidTo})`,
      `wrote ${files.caKey}   CA private key (mode 0600; keep it out of the cluster and out of git)`,
      `wrote ${files.cert}  serving certificate for ${sans} (valid until ${servingValidTo})`,
      `wrote ${files.key}  serving private key (mode 0600)`,
      '',
      'caBundle for clientConfig in the ValidatingWebhookConfiguration and MutatingWebhookConfiguration:',
      `  caBundle: ${Buffer.from(ca.cert).toString('base64')}`,
      '',
      'TLS secret for the webhook pod:',
      `  kubectl -n ${namespace} create secret tls ${service}-tls --cert=${files.cert} --key=${files.key}`,
      '',
    ].join('\n'),
  );
  return 0;
}
