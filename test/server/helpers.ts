// Shared test helpers: a logger whose lines can be read back, AdmissionReview builders,
// certificates on disk, and a bounded wait.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { pino, type Logger } from 'pino';
import { generateCa, generateServing, type Pem } from '../../src/certs/generate.js';
import { waitFor as waitUntil } from '../lib/wait.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

export function memoryLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

type ReviewVersion = 'admission.k8s.io/v1' | 'admission.k8s.io/v1beta1';

export interface ReviewInput {
  apiVersion?: ReviewVersion;
  uid?: string;
  group: string;
  version: string;
  kind: string;
  operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  namespace?: string;
  name?: string;
  object?: unknown;
  oldObject?: unknown;
  username?: string;
  dryRun?: boolean;
}

export function review(input: ReviewInput): Record<string, unknown> {
  return {
    apiVersion: input.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: input.uid ?? 'uid-1',
      kind: { group: input.group, version: input.version, kind: input.kind },
      operation: input.operation ?? 'CREATE',
      namespace: input.namespace ?? 'bookinfo',
      name: input.name ?? 'subject',
      object: input.object ?? null,
      oldObject: input.oldObject ?? null,
      userInfo: { username: input.username ?? 'alice', groups: ['system:authenticated'] },
      dryRun: input.dryRun ?? false,
    },
  };
}

export function peerAuthentication(mode: string, extra: Partial<ReviewInput> = {}): Record<string, unknown> {
  return review({
    group: 'security.istio.io',
    version: 'v1',
    kind: 'PeerAuthentication',
    name: 'ratings-mtls',
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'ratings-mtls', namespace: 'bookinfo' },
      spec: { selector: { matchLabels: { app: 'ratings' } }, mtls: { mode } },
    },
    ...extra,
  });
}

export function deploymentObject(annotations?: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'ratings', namespace: 'bookinfo' },
    spec: {
      selector: { matchLabels: { app: 'ratings' } },
      template: {
        metadata: { labels: { app: 'ratings' }, ...(annotations && { annotations }) },
        spec: { containers: [{ name: 'ratings', image: 'ratings:1' }] },
      },
    },
  };
}

export function deployment(object: unknown, extra: Partial<ReviewInput> = {}): Record<string, unknown> {
  return review({ group: 'apps', version: 'v1', kind: 'Deployment', name: 'ratings', object, ...extra });
}

/** Polls `check` until it returns true; fails after `timeoutMs` with `what` in the message. */
export function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  return waitUntil(what, check, { timeoutMs });
}

export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mtls-guard-test-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function localhostCert(ca: Pem): Promise<Pem> {
  return generateServing(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
}

export { generateCa };

/** A client certificate (extKeyUsage clientAuth) signed by `ca`, as the API server would hold. */
export async function clientCert(ca: Pem, commonName = 'kube-apiserver'): Promise<Pem> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decode(ca.key)[0] as ArrayBuffer, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '0badc0de',
      subject: `CN=${commonName}`,
      issuer: caCert.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
    },
    webcrypto,
  );
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(der, 'PRIVATE KEY') };
}

export async function writePem(dir: string, name: string, pem: Pem): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await writeFile(certFile, pem.cert);
  await writeFile(keyFile, pem.key);
  return { certFile, keyFile };
}

/** A serving certificate for `localhost` with the validity given, for the public key of `keyPem`
 * (so swapping only the certificate file is one change of a matching pair). */
export async function servingCertFor(ca: Pem, keyPem: string, validity: { notBefore: Date; notAfter: Date; dnsNames?: string[] }): Promise<Pem> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decode(ca.key)[0] as ArrayBuffer, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const spki = createPublicKey(createPrivateKey(keyPem)).export({ format: 'der', type: 'spki' });
  const publicKey = await webcrypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
  const dnsNames = validity.dnsNames ?? ['localhost'];
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: `1${randomBytes(7).toString('hex')}`,
      subject: `CN=${dnsNames[0] ?? 'localhost'}`,
      issuer: caCert.subject,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      publicKey,
      signingKey: caKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([...dnsNames.map((value) => ({ type: 'dns' as const, value })), { type: 'ip', value: '127.0.0.1' }]),
      ],
    },
    webcrypto,
  );
  return { cert: cert.toString('pem'), key: keyPem };
}
