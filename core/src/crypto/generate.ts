/**
 * A new self-signed certificate and its key, as authentik's CertificateBuilder makes them: subject
 * CN=<name>, O=authentik, OU=Self-signed, valid from a day before `now`, the subject-alt names as a
 * critical DNS-name extension, a random positive 128-bit serial, SHA-256 signatures.
 */

import type * as x509 from "@peculiar/x509";
import { pem } from "../../../shared/crypto.ts";
import { loadX509 } from "./x509.ts";

export const GENERATION_ALGS = ["rsa", "ecdsa", "ed25519", "ed448"] as const;
export type GenerationAlg = (typeof GENERATION_ALGS)[number];
/** WebCrypto on Bun has no Ed448, so those requests are refused with a field error. */
export const SUPPORTED_ALGS: readonly GenerationAlg[] = ["rsa", "ecdsa", "ed25519"];

export interface GenerateOptions {
  commonName: string;
  subjectAltNames: string[];
  validityDays: number;
  alg: GenerationAlg;
  now: Date;
}

export interface GeneratedPair {
  certificate: string;
  key: string;
}

const DAY_MS = 86_400_000;

/** WebCrypto key-generation parameters (RsaHashedKeyGenParams, EcKeyGenParams, …). */
type KeyGenAlgorithm = { name: string } & Record<string, unknown>;
type SigningAlgorithm = x509.X509CertificateCreateSelfSignedParams["signingAlgorithm"];

const ALGORITHMS: Record<string, { key: KeyGenAlgorithm; sign: SigningAlgorithm }> = {
  rsa: {
    key: {
      name: "RSASSA-PKCS1-v1_5",
      hash: "SHA-256",
      publicExponent: new Uint8Array([1, 0, 1]),
      modulusLength: 4096,
    },
    sign: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  },
  ecdsa: { key: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } },
  ed25519: { key: { name: "Ed25519" }, sign: { name: "Ed25519" } },
};

/** A DN attribute value from free text: RFC 4514 specials escaped. */
const dnValue = (v: string) => v.replace(/[\\"+,;<>=#]/g, (c) => `\\${c}`);

export async function generateCertificate(o: GenerateOptions): Promise<GeneratedPair> {
  const alg = ALGORITHMS[o.alg];
  if (!alg) throw new Error(`unsupported algorithm ${o.alg}`);
  const { X509CertificateGenerator, SubjectAlternativeNameExtension } = await loadX509();
  const keys = (await crypto.subtle.generateKey(alg.key, true, ["sign", "verify"])) as CryptoKeyPair;
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01;
  const name = `CN=${dnValue(o.commonName)}, O=authentik, OU=Self-signed`;
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(serial).toString("hex"),
    name,
    notBefore: new Date(o.now.getTime() - DAY_MS),
    notAfter: new Date(o.now.getTime() + o.validityDays * DAY_MS),
    signingAlgorithm: alg.sign,
    keys,
    extensions:
      o.subjectAltNames.length > 0
        ? [
            new SubjectAlternativeNameExtension(
              o.subjectAltNames.map((value) => ({ type: "dns" as const, value })),
              true,
            ),
          ]
        : [],
  });
  return {
    certificate: cert.toString("pem"),
    key: pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}
