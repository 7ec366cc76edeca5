import { describe, expect, test } from "bun:test";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { selfSignedCertificate } from "./certificate.ts";

describe("selfSignedCertificate", () => {
  test("a valid self-signed ECDSA certificate for localhost, 127.0.0.1 and the names given", async () => {
    const { cert, key } = await selfSignedCertificate("Gatehouse LDAP", ["ldap.example.test", "10.0.0.5"]);
    const x509 = new X509Certificate(cert);
    expect(x509.subject).toBe("CN=Gatehouse LDAP");
    expect(x509.issuer).toBe("CN=Gatehouse LDAP");
    expect(x509.verify(x509.publicKey)).toBe(true); // signed by its own key
    expect(x509.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(x509.subjectAltName).toBe(
      "DNS:localhost, IP Address:127.0.0.1, DNS:ldap.example.test, IP Address:10.0.0.5",
    );
    expect(x509.checkHost("localhost")).toBe("localhost");
    expect(x509.checkIP("127.0.0.1")).toBe("127.0.0.1");
    const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(365);
    expect(x509.publicKey.asymmetricKeyType).toBe("ec");
  });

  test("each certificate has its own key and serial", async () => {
    const [a, b] = await Promise.all([selfSignedCertificate("a"), selfSignedCertificate("a")]);
    expect(new X509Certificate(a.cert).serialNumber).not.toBe(new X509Certificate(b.cert).serialNumber);
    expect(a.key).not.toBe(b.key);
  });
});
