import { describe, expect, test } from "bun:test";
import { type UpstreamHeaderOptions, upstreamHeaders, upstreamTarget } from "./upstream.ts";

const options = (extra: Partial<UpstreamHeaderOptions> = {}): UpstreamHeaderOptions => ({
  clientIp: "203.0.113.9",
  host: "app.example.test",
  proto: "https",
  cookie: "authentik_proxy_abcdef12",
  dropAuthorization: false,
  identity: undefined,
  hostHeader: undefined,
  ...extra,
});

/** The headers as the upstream would see them: names lower-cased, repeated names joined. */
function sent(request: Record<string, string>, extra: Partial<UpstreamHeaderOptions> = {}) {
  const out = new Map<string, string[]>();
  const pairs = [...upstreamHeaders(new Headers(request), options(extra)), ...(extra.identity?.pairs ?? [])];
  for (const [name, value] of pairs)
    out.set(name.toLowerCase(), [...(out.get(name.toLowerCase()) ?? []), value]);
  return out;
}

describe("upstream request headers", () => {
  test("a client's X-authentik-* headers never reach the upstream, in any spelling", () => {
    const h = sent({
      "X-authentik-username": "root",
      x_authentik_groups: "admins",
      "X-AUTHENTIK-JWT": "forged",
      "x-authentik-meta-app": "other",
      "X-Other": "kept",
    });
    expect([...h.keys()].filter((n) => n.replace(/_/g, "-").startsWith("x-authentik"))).toEqual([]);
    expect(h.get("x-other")).toEqual(["kept"]);
  });

  test("hop-by-hop headers and those Connection names are dropped; the session cookie is removed", () => {
    const h = sent({
      connection: "keep-alive, X-Secret-Hop",
      "keep-alive": "timeout=5",
      "x-secret-hop": "1",
      te: "trailers",
      cookie: "theme=dark; authentik_proxy_abcdef12=session-value; lang=en",
    });
    for (const name of ["connection", "keep-alive", "x-secret-hop", "te"]) expect(h.has(name)).toBe(false);
    expect(h.get("cookie")).toEqual(["theme=dark; lang=en"]);
  });

  test("X-Forwarded-* are the outpost's own, the client's chain extended", () => {
    const h = sent({
      host: "app.example.test",
      "x-forwarded-for": "198.51.100.1",
      "x-forwarded-proto": "gopher",
    });
    expect(h.get("x-forwarded-for")).toEqual(["198.51.100.1, 203.0.113.9"]);
    expect(h.get("x-forwarded-proto")).toEqual(["https"]);
    expect(h.get("x-forwarded-host")).toEqual(["app.example.test"]);
  });

  test("identity headers win over the client's; Authorization goes when it was the credential", () => {
    const identity = {
      pairs: [
        ["X-authentik-username", "alice"],
        ["X-Team", "blue"],
      ] as [string, string][],
      names: new Set(["x-authentik-username", "x-team"]),
      lines: { text: "X-authentik-username: alice\r\nX-Team: blue\r\n", ascii: true },
    };
    const h = sent({ "x-team": "red", authorization: "Bearer abc" }, { identity, dropAuthorization: true });
    expect(h.get("x-authentik-username")).toEqual(["alice"]);
    expect(h.get("x-team")).toEqual(["blue"]);
    expect(h.has("authorization")).toBe(false);
    expect(sent({ authorization: "Basic eA==" }).get("authorization")).toEqual(["Basic eA=="]);
  });

  test("the upstream URL keeps the internal host's path prefix and the request's path and query", () => {
    const target = upstreamTarget("http://10.0.0.5:3000/base/", new URL("https://app.example.test/x/y?q=1"));
    expect(target.path).toBe("/base/x/y?q=1");
    expect(target.origin).toEqual({
      href: "http://10.0.0.5:3000",
      tls: false,
      hostname: "10.0.0.5",
      port: 3000,
      host: "10.0.0.5:3000",
    });
    const v6 = upstreamTarget("https://[::1]/", new URL("https://app.example.test/"));
    expect(v6.origin).toMatchObject({ tls: true, hostname: "::1", port: 443, host: "[::1]" });
    expect(v6.path).toBe("/");
  });
});
