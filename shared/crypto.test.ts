import { describe, expect, test } from "bun:test";
import { constantTimeEqual, deriveKey, randomSecret, seal, sha256Hex, unseal } from "./crypto.ts";

const key = deriveKey("installation-secret", "token-seal");

/** Flips one bit of the sealed value's raw bytes at `index` (negative counts from the end). */
function flip(sealed: string, index: number): string {
  const raw = Buffer.from(sealed, "base64url");
  const at = index < 0 ? raw.length + index : index;
  raw[at] = (raw[at] ?? 0) ^ 0x01;
  return raw.toString("base64url");
}

describe("randomSecret", () => {
  test("is 256 bits as 43 characters of base64url, different every time", () => {
    const a = randomSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, "base64url")).toHaveLength(32);
    const many = new Set(Array.from({ length: 200 }, () => randomSecret()));
    expect(many.size).toBe(200);
    expect(randomSecret(16)).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

describe("sha256Hex", () => {
  test("matches the standard test vectors", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
});

describe("constantTimeEqual", () => {
  test("is true only for identical strings", () => {
    expect(constantTimeEqual("secret", "secret")).toBe(true);
    expect(constantTimeEqual("", "")).toBe(true);
    expect(constantTimeEqual("secret", "secreT")).toBe(false);
    expect(constantTimeEqual("secret", "secret ")).toBe(false);
    expect(constantTimeEqual("secret", "")).toBe(false);
    expect(constantTimeEqual("", "secret")).toBe(false);
    expect(constantTimeEqual("ä", "a\u0308")).toBe(false);
  });

  test("handles strings of any length without throwing", () => {
    expect(constantTimeEqual("a".repeat(10_000), "a".repeat(10_000))).toBe(true);
    expect(constantTimeEqual("a".repeat(10_000), "a")).toBe(false);
  });
});

describe("deriveKey", () => {
  test("gives a stable 256-bit key per secret and purpose", () => {
    expect(key).toHaveLength(32);
    expect(deriveKey("installation-secret", "token-seal").equals(key)).toBe(true);
    expect(deriveKey("installation-secret", "cookie-sign").equals(key)).toBe(false);
    expect(deriveKey("other-secret", "token-seal").equals(key)).toBe(false);
  });
});

describe("seal and unseal", () => {
  test("round-trip any text", () => {
    for (const text of ["", "a-token-key", "ünïcödé ✓ 🔑", "x".repeat(5000)]) {
      const sealed = seal(key, text);
      expect(sealed).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(unseal(key, sealed)).toBe(text);
    }
  });

  test("hide the plaintext and never repeat (a fresh nonce each time)", () => {
    const a = seal(key, "a-token-key");
    const b = seal(key, "a-token-key");
    expect(a).not.toBe(b);
    expect(a).not.toContain("a-token-key");
    expect(Buffer.from(a, "base64url").toString("latin1")).not.toContain("a-token-key");
  });

  test("detect tampering with the nonce, the tag or the ciphertext", () => {
    const sealed = seal(key, "a-token-key");
    expect(() => unseal(key, flip(sealed, 0))).toThrow(); // nonce
    expect(() => unseal(key, flip(sealed, 14))).toThrow(); // tag
    expect(() => unseal(key, flip(sealed, -1))).toThrow(); // ciphertext
    const raw = Buffer.from(sealed, "base64url");
    expect(() => unseal(key, raw.subarray(0, raw.length - 1).toString("base64url"))).toThrow();
    expect(() => unseal(key, Buffer.concat([raw, Buffer.from([0])]).toString("base64url"))).toThrow();
    expect(() => unseal(key, "")).toThrow();
  });

  test("refuse a different key", () => {
    const sealed = seal(key, "a-token-key");
    expect(() => unseal(deriveKey("other-secret", "token-seal"), sealed)).toThrow();
  });
});
