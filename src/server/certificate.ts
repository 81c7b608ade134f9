// Turns the serving certificate, key and optional client CA files into TLS context options,
// or into an error naming the file. Checked before use, because a rotation caught half-way
// (certificate replaced, key not yet) must leave the previous pair in force, not break TLS.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { FileSnapshot } from './file-watch.js';
import { errorMessage } from '../util/errors.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** When given, clients must present a certificate signed by this CA. */
  clientCaFile?: string;
}

export interface CertificateInfo {
  serialNumber: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** Subject alternative names as OpenSSL prints them (`DNS:name`, `IP Address:addr`). */
  subjectAltNames: string[];
  /** True when `name` is one of the certificate's DNS names (wildcards as TLS clients match them). */
  matchesName(name: string): boolean;
}

export type CertificateResult =
  | { ok: true; context: SecureContextOptions; info: CertificateInfo }
  | { ok: false; error: string };

/** The files in the order watched and snapshotted. */
export function tlsPaths(files: TlsFiles): string[] {
  return files.clientCaFile === undefined ? [files.certFile, files.keyFile] : [files.certFile, files.keyFile, files.clientCaFile];
}

function content(snapshot: FileSnapshot, index: number, path: string, what: string): Buffer | string {
  const c = snapshot.files[index];
  if (c === undefined) return `${what} ${path}: not read`;
  if (Buffer.isBuffer(c)) return c;
  return `${what} ${path}: cannot read: ${c.code ?? c.message}`;
}

export function loadCertificate(files: TlsFiles, snapshot: FileSnapshot): CertificateResult {
  const cert = content(snapshot, 0, files.certFile, 'certificate file');
  const key = content(snapshot, 1, files.keyFile, 'key file');
  if (typeof cert === 'string') return { ok: false, error: cert };
  if (typeof key === 'string') return { ok: false, error: key };

  let x509: X509Certificate;
  try {
    // The first certificate of the file is the leaf; the rest is the chain sent along with it.
    x509 = new X509Certificate(cert);
  } catch (err) {
    return { ok: false, error: `certificate file ${files.certFile}: not a PEM certificate (${errorMessage(err)})` };
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) {
      return { ok: false, error: `key file ${files.keyFile} does not match the certificate in ${files.certFile}` };
    }
  } catch (err) {
    return { ok: false, error: `key file ${files.keyFile}: not a PEM private key (${errorMessage(err)})` };
  }

  // minVersion lives in the context: every swap must carry it, or a swap would lower it.
  const context: SecureContextOptions = { cert, key, minVersion: 'TLSv1.2' };
  if (files.clientCaFile !== undefined) {
    const ca = content(snapshot, 2, files.clientCaFile, 'client CA file');
    if (typeof ca === 'string') return { ok: false, error: ca };
    try {
      new X509Certificate(ca);
    } catch (err) {
      return { ok: false, error: `client CA file ${files.clientCaFile}: not a PEM certificate (${errorMessage(err)})` };
    }
    context.ca = ca;
  }
  try {
    createSecureContext(context);
  } catch (err) {
    return { ok: false, error: `${files.certFile} / ${files.keyFile}: not usable for TLS (${errorMessage(err)})` };
  }
  return {
    ok: true,
    context,
    info: {
      serialNumber: x509.serialNumber,
      subject: x509.subject,
      notBefore: new Date(Date.parse(x509.validFrom)),
      notAfter: new Date(Date.parse(x509.validTo)),
      subjectAltNames: x509.subjectAltName ? x509.subjectAltName.split(', ') : [],
      matchesName: (name) => x509.checkHost(name, { subject: 'never' }) !== undefined,
    },
  };
}

/**
 * Why the certificate cannot be served at `now`, or undefined: outside its validity period every
 * API server handshake fails. Not yet valid is usually clock skew or an early renewal.
 */
export function validityProblem(info: CertificateInfo, now: Date): string | undefined {
  if (now < info.notBefore) return `the serving certificate is not valid until ${info.notBefore.toISOString()}`;
  if (now > info.notAfter) return `the serving certificate expired at ${info.notAfter.toISOString()}`;
  return undefined;
}

/** Why the certificate does not fit the name the API server dials (when it is configured), or undefined. */
export function nameProblem(info: CertificateInfo, expectedName: string | undefined): string | undefined {
  if (expectedName === undefined || info.matchesName(expectedName)) return undefined;
  return `the serving certificate is not valid for ${expectedName} (its names: ${info.subjectAltNames.join(', ') || 'none'})`;
}
