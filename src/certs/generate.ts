// Certificates for local development, `mtls-guard certs` and `serve` without --tls-cert: a CA
// and a serving certificate it signs. ECDSA P-256 keeps generation in the milliseconds; the API
// server and every Node/Go TLS stack accept it. Keys are written as PKCS#8 PEM, which both
// `tls.createSecureContext` and Kubernetes TLS secrets take.
import { createPrivateKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API
// loaded before the library itself.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SignAlgorithm = webcrypto.EcdsaParams | webcrypto.Algorithm;
type ImportAlgorithm = webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;

export interface Pem {
  cert: string;
  key: string;
}

export interface CaOptions {
  commonName?: string;
  days?: number;
}

export interface ServingOptions {
  dnsNames: string[];
  ipAddresses?: string[];
  commonName?: string;
  days?: number;
}

const CA_DAYS = 3650;
const SERVING_DAYS = 365;
// Back-date notBefore so a node whose clock runs slightly behind still accepts a fresh cert.
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

// Passed explicitly so no global crypto provider has to be registered with the library.
const provider = webcrypto;

/** The names a Kubernetes Service answers to, shortest first (the SANs the API server checks). */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

function validity(days: number | undefined, fallback: number): { notBefore: Date; notAfter: Date } {
  const d = days ?? fallback;
  if (!Number.isFinite(d) || d <= 0) throw new RangeError(`days must be a positive number, got ${String(days)}`);
  const now = Date.now();
  return { notBefore: new Date(now - CLOCK_SKEW_MS), notAfter: new Date(now + d * DAY_MS) };
}

/** 128 random bits, first byte kept in 0x01..0x7f so the DER INTEGER is positive and minimal. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function subjectName(commonName: string): x509.JsonName {
  // JSON form, not a DN string, so commas or equals signs in the name need no escaping.
  return [{ CN: [commonName] }];
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return provider.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

/** PEM with a final newline, as tools and `kubectl create secret tls` expect in files. */
function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await provider.subtle.exportKey('pkcs8', key);
  return withNewline(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

/** Signing parameters matching the CA key's type, so a CA brought from elsewhere also works. */
function signingAlgorithm(key: KeyObject): { import: ImportAlgorithm; sign: SignAlgorithm } {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
    if (!namedCurve) throw new Error(`unsupported CA key curve ${String(curve)} (use P-256 or P-384)`);
    const hash = namedCurve === 'P-256' ? 'SHA-256' : 'SHA-384';
    return { import: { name: 'ECDSA', namedCurve }, sign: { name: 'ECDSA', hash } };
  }
  if (key.asymmetricKeyType === 'rsa') {
    return { import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } };
  }
  throw new Error(`unsupported CA key type ${String(key.asymmetricKeyType)} (use ECDSA or RSA)`);
}

async function importCaKey(pem: string): Promise<{ key: CryptoKey; sign: SignAlgorithm }> {
  const keyObject = createPrivateKey(pem);
  const alg = signingAlgorithm(keyObject);
  const der = keyObject.export({ format: 'der', type: 'pkcs8' });
  const key = await provider.subtle.importKey('pkcs8', der, alg.import, false, ['sign']);
  return { key, sign: alg.sign };
}

/**
 * A self-signed CA: ECDSA P-256, basicConstraints CA:true pathlen 0, keyCertSign and cRLSign.
 * @param opts.commonName default `mtls-guard CA`; @param opts.days validity in days, default 3650
 *   (notBefore is back-dated 5 minutes for clock skew).
 * @returns the certificate and its PKCS#8 private key, both PEM with a trailing newline.
 */
export async function generateCa(opts: CaOptions = {}): Promise<Pem> {
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: subjectName(opts.commonName ?? 'mtls-guard CA'),
      ...validity(opts.days, CA_DAYS),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
      ],
    },
    provider,
  );
  return { cert: withNewline(cert.toString('pem')), key: await privateKeyPem(keys.privateKey) };
}

/**
 * A serving certificate signed by `ca`: ECDSA P-256, serverAuth, with the given names as SANs
 * (the API server ignores the CN).
 * @param ca the signing CA (its key may be ECDSA P-256/P-384 or RSA).
 * @param opts.dnsNames and opts.ipAddresses the SANs; @param opts.days default 365.
 * @returns certificate and PKCS#8 key, PEM.
 * @throws Error when there is no DNS name or IP, an IP address is malformed, or the CA key type
 *   is unsupported.
 */
export async function generateServing(ca: Pem, opts: ServingOptions): Promise<Pem> {
  const ips = opts.ipAddresses ?? [];
  if (opts.dnsNames.length === 0 && ips.length === 0) throw new Error('a serving certificate needs at least one DNS name or IP address');
  const badIp = ips.find((ip) => isIP(ip) === 0);
  if (badIp !== undefined) throw new Error(`not an IP address: ${badIp}`);

  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await importCaKey(ca.key);
  const keys = await newKeyPair();
  const sans: x509.JsonGeneralNames = [
    ...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ips.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: subjectName(opts.commonName ?? opts.dnsNames[0] ?? ips[0] ?? 'mtls-guard'),
      issuer: caCert.subjectName,
      ...validity(opts.days, SERVING_DAYS),
      publicKey: keys.publicKey,
      signingKey: caKey.key,
      signingAlgorithm: caKey.sign,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(sans),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, provider),
      ],
    },
    provider,
  );
  return { cert: withNewline(cert.toString('pem')), key: await privateKeyPem(keys.privateKey) };
}
