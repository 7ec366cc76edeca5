import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { cookieName, readCookies, serializeCookie, withoutCookie } from "./cookie.ts";

describe("the session cookie", () => {
  test("is named authentik_proxy_ + the first 8 hex digits of SHA-256(client_id)", () => {
    const hex = createHash("sha256").update("my-client").digest("hex").slice(0, 8);
    expect(cookieName("my-client")).toBe(`authentik_proxy_${hex}`);
    expect(cookieName("my-client")).toMatch(/^authentik_proxy_[0-9a-f]{8}$/);
  });

  test("has HttpOnly, SameSite=Lax, Path=/, Secure behind https and the cookie domain", () => {
    expect(serializeCookie("c", "v", { secure: true, domain: ".example.test", maxAge: 30 })).toBe(
      "c=v; Path=/; Max-Age=30; Domain=.example.test; HttpOnly; SameSite=Lax; Secure",
    );
    expect(serializeCookie("c", "", { secure: false, maxAge: 0 })).toBe(
      "c=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax",
    );
  });

  test("reads only values we could have set, and is kept from the upstream", () => {
    const value = "A".repeat(43);
    expect(readCookies(`a=1; c=${value}; c=%0d%0a; c=short`, "c")).toEqual([value]);
    expect(readCookies(null, "c")).toEqual([]);
    expect(withoutCookie(`a=1; c=${value}; b=2`, "c")).toBe("a=1; b=2");
    expect(withoutCookie(`c=${value}`, "c")).toBeUndefined();
    // Spaces, empty parts, a flag without a value and a longer name that starts with ours are kept apart.
    expect(withoutCookie(` a=1 ;; c = ${value} ;flag; cc=2;`, "c")).toBe("a=1; flag; cc=2");
    expect(withoutCookie(" ; ", "c")).toBeUndefined();
    expect(withoutCookie(null, "c")).toBeUndefined();
  });
});
