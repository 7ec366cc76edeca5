/**
 * A self-signed certificate (ECDSA P-256, SHA-256) for outposts that serve TLS before an operator
 * configures one: made in memory at start, valid for a year, naming localhost, 127.0.0.1 and the given
 * names. Encoded here in a few lines of DER over WebCrypto rather than with an X.509 library, which
 * would cost an outpost some 20 MB of memory for this one certificate.
 */
import { pem } from "../../shared/crypto.ts";

export interface Certificate {
  cert: string;
  key: string;
}

// --- DER, just what a certificate needs ---

function length(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

const tlv = (tag: number, content: Uint8Array | number[]): Uint8Array =>
  Uint8Array.from([tag, ...length(content.length), ...content]);

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
};

const sequence = (...parts: Uint8Array[]) => tlv(0x30, concat(...parts));
const set = (...parts: Uint8Array[]) => tlv(0x31, concat(...parts));
const utf8 = (text: string) => tlv(0x0c, new TextEncoder().encode(text));
const bitString = (bytes: Uint8Array) => tlv(0x03, concat(Uint8Array.of(0), bytes));

/** An unsigned big-endian integer, with the leading zero DER needs when the top bit is set. */
function integer(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, (trimmed[0] as number) & 0x80 ? concat(Uint8Array.of(0), trimmed) : trimmed);
}

function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number) as [number, number, ...number[]];
  const bytes = [a * 40 + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, bytes);
}

/** UTCTime for years before 2050, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(date: Date): Uint8Array {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, new TextEncoder().encode(`${iso.slice(2)}Z`))
    : tlv(0x18, new TextEncoder().encode(`${iso}Z`));
}

const ECDSA_WITH_SHA256 = sequence(oid("1.2.840.10045.4.3.2"));

/** WebCrypto signs ECDSA as r‖s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }. */
function derSignature(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return sequence(integer(raw.subarray(0, half)), integer(raw.subarray(half)));
}

function ipBytes(ip: string): Uint8Array | undefined {
  const parts = ip.split(".").map(Number);
  return parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255)
    ? Uint8Array.from(parts)
    : undefined;
}

export async function selfSignedCertificate(commonName: string, names: string[] = []): Promise<Certificate> {
  const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const now = new Date();
  const name = sequence(set(sequence(oid("2.5.4.3"), utf8(commonName.slice(0, 64)))));
  const altNames = ["localhost", "127.0.0.1", ...names].map((n) => {
    const ip = ipBytes(n);
    return ip ? tlv(0x87, ip) : tlv(0x82, new TextEncoder().encode(n)); // [7] iPAddress, [2] dNSName
  });
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0] as number) & 0x7f; // positive
  const tbs = sequence(
    tlv(0xa0, integer(Uint8Array.of(2))), // v3
    integer(serial),
    ECDSA_WITH_SHA256,
    name,
    sequence(time(now), time(new Date(now.getTime() + 365 * 86_400_000))),
    name,
    spki,
    tlv(0xa3, sequence(sequence(oid("2.5.29.17"), tlv(0x04, sequence(...altNames))))), // subjectAltName
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      keys.privateKey,
      tbs as Uint8Array<ArrayBuffer>,
    ),
  );
  const certificate = sequence(tbs, ECDSA_WITH_SHA256, bitString(derSignature(signature)));
  return {
    cert: pem("CERTIFICATE", certificate),
    key: pem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey))),
  };
}
