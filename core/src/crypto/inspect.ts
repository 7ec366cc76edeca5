/**
 * What a certificate-key pair shows about itself, read from its PEM: fingerprints (lower-case hex with
 * colons, as authentik), expiry, the subject as an RFC 4514 string and the public key's type. Also the
 * checks an upload must pass: a parsable certificate, a parsable unencrypted key, and a key that belongs
 * to the certificate.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import type * as x509 from "@peculiar/x509";
import { loadX509 } from "./x509.ts";

export const KEY_TYPES = ["rsa", "ec", "dsa", "ed25519", "ed448"] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export interface CertificateFacts {
  fingerprint_sha256: string;
  fingerprint_sha1: string;
  cert_expiry: string;
  cert_subject: string;
  key_type: KeyType | null;
}

/** The certificate's X509Certificate, or undefined when the text holds no parsable PEM certificate. */
export function parseCertificate(pem: string): X509Certificate | undefined {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** authentik strips each line before loading a key; pasted keys often carry indentation. */
export function parsePrivateKey(pem: string): KeyObject | undefined {
  const text = pem
    .split("\n")
    .map((line) => line.trim())
    .join("\n");
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) || text.includes("ENCRYPTED")) return undefined;
  try {
    return createPrivateKey({ key: text, format: "pem" });
  } catch {
    return undefined;
  }
}

export function keyMatches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

const colonHex = (upper: string) => upper.toLowerCase();

export async function certificateFacts(cert: X509Certificate): Promise<CertificateFacts> {
  return {
    fingerprint_sha256: colonHex(cert.fingerprint256),
    fingerprint_sha1: colonHex(cert.fingerprint),
    cert_expiry: new Date(cert.validTo).toISOString(),
    cert_subject: await rfc4514(cert),
    key_type: keyType(cert.publicKey.asymmetricKeyType),
  };
}

function keyType(raw: string | undefined): KeyType | null {
  if (raw === "rsa" || raw === "rsa-pss") return "rsa";
  return KEY_TYPES.find((k) => k === raw) ?? null;
}

/**
 * Python cryptography's `Name.rfc4514_string()`: RDNs last-first, joined by ",", the short names it
 * knows (others as dotted OIDs), values escaped per RFC 4514.
 */
const PECULIAR_TO_OID: Record<string, string> = {
  E: "1.2.840.113549.1.9.1",
  G: "2.5.4.42",
  I: "2.5.4.43",
  SN: "2.5.4.4",
  T: "2.5.4.12",
};
const OID_TO_SHORT: Record<string, string> = {
  "2.5.4.9": "STREET",
  "0.9.2342.19200300.100.1.1": "UID",
};

async function rfc4514(cert: X509Certificate): Promise<string> {
  const { X509Certificate: Parsed } = await loadX509();
  let name: x509.JsonName;
  try {
    name = new Parsed(cert.raw).subjectName.toJSON();
  } catch {
    // A certificate OpenSSL reads but the ASN.1 schema does not: OpenSSL's own one-per-line form, reversed.
    return cert.subject.split("\n").reverse().join(",");
  }
  return name
    .slice()
    .reverse()
    .map((rdn) =>
      Object.entries(rdn)
        .flatMap(([type, values]) => {
          const label = PECULIAR_TO_OID[type] ?? OID_TO_SHORT[type] ?? type;
          return values.map((v) => `${label}=${escapeValue(v)}`);
        })
        .join("+"),
    )
    .join(",");
}

function escapeValue(value: string): string {
  if (value === "") return "";
  let v = value.replace(/[\\"+,;<>]/g, (c) => `\\${c}`).replace(/\0/g, "\\00");
  if (v.startsWith("#") || v.startsWith(" ")) v = `\\${v}`;
  if (v.endsWith(" ")) v = `${v.slice(0, -1)}\\ `;
  return v;
}
