import { describe, expect, test } from "bun:test";
import { generateCertificate } from "./generate.ts";
import { certificateFacts, keyMatches, parseCertificate, parsePrivateKey } from "./inspect.ts";

const now = new Date("2030-01-01T00:00:00Z");

describe("certificate facts", () => {
  test("the subject is RFC 4514, last RDN first, with specials escaped", async () => {
    const pair = await generateCertificate({
      commonName: ' Acme, "Ops" + #1 ',
      subjectAltNames: [],
      validityDays: 2,
      alg: "ed25519",
      now,
    });
    const cert = parseCertificate(pair.certificate);
    if (!cert) throw new Error("unparsable");
    const facts = await certificateFacts(cert);
    expect(facts.cert_subject).toBe('OU=Self-signed,O=authentik,CN=\\ Acme\\, \\"Ops\\" \\+ #1\\ ');
    expect(facts.key_type).toBe("ed25519");
    expect(facts.cert_expiry).toBe("2030-01-03T00:00:00.000Z");
    expect(facts.fingerprint_sha256).toMatch(/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    expect(facts.fingerprint_sha1).toMatch(/^([0-9a-f]{2}:){19}[0-9a-f]{2}$/);
  });

  test("keys: indented PEM loads, a foreign key does not match, garbage does not load", async () => {
    const a = await generateCertificate({
      commonName: "a",
      subjectAltNames: [],
      validityDays: 1,
      alg: "ecdsa",
      now,
    });
    const b = await generateCertificate({
      commonName: "b",
      subjectAltNames: [],
      validityDays: 1,
      alg: "ecdsa",
      now,
    });
    const cert = parseCertificate(a.certificate);
    if (!cert) throw new Error("unparsable");
    const indented = a.key
      .split("\n")
      .map((l) => `   ${l}`)
      .join("\n");
    const own = parsePrivateKey(indented);
    const other = parsePrivateKey(b.key);
    if (!own || !other) throw new Error("unparsable key");
    expect(keyMatches(cert, own)).toBe(true);
    expect(keyMatches(cert, other)).toBe(false);
    expect(parsePrivateKey("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")).toBeUndefined();
    expect(parseCertificate("hello")).toBeUndefined();
  });
});
