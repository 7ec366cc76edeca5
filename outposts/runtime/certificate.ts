/**
 * A self-signed certificate (ECDSA P-256) for outposts that serve TLS before an operator configures
 * one: made in memory at start, valid for a year, naming localhost and the given names.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

export interface Certificate {
  cert: string;
  key: string;
}

const pem = (label: string, der: ArrayBuffer) =>
  `-----BEGIN ${label}-----\n${(
    Buffer.from(der)
      .toString("base64")
      .match(/.{1,64}/g) ?? []
  ).join("\n")}\n-----END ${label}-----\n`;

export async function selfSignedCertificate(commonName: string, names: string[] = []): Promise<Certificate> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex"),
    name: `CN=${commonName.replace(/[,=+<>#;"\\]/g, "")}`,
    notBefore: now,
    notAfter: new Date(now.getTime() + 365 * 86_400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
        ...names.map((value) => ({ type: "dns" as const, value })),
      ]),
    ],
  });
  return {
    cert: cert.toString("pem"),
    key: pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}
