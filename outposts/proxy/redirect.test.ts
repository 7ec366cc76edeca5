import { describe, expect, test } from "bun:test";
import { checkRedirect, redirectTarget } from "./redirect.ts";
import { testApplication } from "./testing.ts";

describe("redirect targets (rd)", () => {
  const app = testApplication();

  test("proxy and forward_single: a path, or a URL on the external host", () => {
    expect(checkRedirect(app, "/a?b=1")).toBe("https://app.example.test/a?b=1");
    expect(checkRedirect(app, "https://app.example.test/x")).toBe("https://app.example.test/x");
    expect(checkRedirect(app, "http://APP.example.test/x")).toBe("http://app.example.test/x");
  });

  test("never an open redirect", () => {
    for (const rd of [
      "https://evil.test/",
      "//evil.test/x",
      "/\\evil.test",
      "https://app.example.test.evil.test/",
      "https://user:pw@app.example.test/",
      "javascript:alert(1)",
      "https://app.example.test/\r\nSet-Cookie: x=1",
      "",
    ])
      expect(checkRedirect(app, rd)).toBeUndefined();
    expect(redirectTarget(app, "https://evil.test/")).toBe("https://app.example.test/");
    expect(redirectTarget(app, null)).toBe("https://app.example.test/");
  });

  test("forward_domain: any host under the cookie domain, and only those", () => {
    const domain = testApplication({
      mode: "forward_domain",
      external_host: "https://auth.example.test",
      cookie_domain: ".example.test",
    });
    expect(checkRedirect(domain, "https://wiki.example.test/p")).toBe("https://wiki.example.test/p");
    expect(checkRedirect(domain, "https://example.test/")).toBe("https://example.test/");
    expect(checkRedirect(domain, "https://evilexample.test/")).toBeUndefined();
    expect(checkRedirect(domain, "https://example.test.evil/")).toBeUndefined();
  });
});
