import { describe, expect, test } from "bun:test";
import { memoryLogger } from "../../shared/log.ts";
import { compileAllowlist, isAllowlisted } from "./application.ts";
import { findApplication } from "./handler.ts";
import { testApplication } from "./testing.ts";

describe("providers as the outpost serves them", () => {
  test("skip_path_regex: a line that does not compile is skipped with a warning", () => {
    const log = memoryLogger("debug");
    const list = compileAllowlist("^/public\n(unclosed\n\n^/health$", log, "app");
    expect(list.map((r) => r.source)).toEqual(["^\\/public", "^\\/health$"]);
    expect(log.lines.some((l) => l.level === "warn" && l.regex === "(unclosed")).toBe(true);
  });

  test("the allow-list matches the path, or the full URL for forward_domain", () => {
    const proxy = testApplication({ skip_path_regex: "^/public" });
    expect(isAllowlisted(proxy, new URL("https://app.example.test/public/x"))).toBe(true);
    expect(isAllowlisted(proxy, new URL("https://app.example.test/private?/public"))).toBe(false);
    const domain = testApplication({
      mode: "forward_domain",
      cookie_domain: "example.test",
      skip_path_regex: "^https://wiki\\.example\\.test/",
    });
    expect(isAllowlisted(domain, new URL("https://wiki.example.test/a"))).toBe(true);
    expect(isAllowlisted(domain, new URL("https://git.example.test/a"))).toBe(false);
  });

  test("requests find their provider by Host; forward_domain by cookie domain", () => {
    const a = testApplication({ pk: 1, external_host: "https://app.example.test" });
    const b = testApplication({
      pk: 2,
      mode: "forward_domain",
      external_host: "https://auth.corp.test",
      cookie_domain: ".corp.test",
    });
    expect(findApplication([a, b], "APP.example.test:443")?.config.pk).toBe(1);
    expect(findApplication([a, b], "wiki.corp.test")?.config.pk).toBe(2);
    expect(findApplication([a, b], "evilcorp.test")).toBeUndefined();
    expect(findApplication([a, b], null)).toBeUndefined();
  });

  test("a Host without a port (nginx's $host) finds the external host on another port", () => {
    const a = testApplication({ pk: 1, external_host: "http://app.example.test:8443" });
    const b = testApplication({ pk: 2, external_host: "http://app.example.test:9443" });
    expect(findApplication([a, b], "app.example.test:9443")?.config.pk).toBe(2);
    expect(findApplication([a, b], "app.example.test")?.config.pk).toBe(1);
    // A Host with a port must name the external host's own port.
    expect(findApplication([a, b], "app.example.test:7000")).toBeUndefined();
  });

  test("the browser goes to host_browser; the outpost calls the core's host", () => {
    const app = testApplication();
    expect(app.browser.authorize).toBe("http://core.test/application/o/authorize/");
    expect(app.redirectUri).toBe(
      "https://app.example.test/outpost.goauthentik.io/callback?X-authentik-auth-callback=true",
    );
    expect(app.secure).toBe(true);
  });
});
