import { describe, expect, test } from "bun:test";
import type { Identity } from "./claims.ts";
import { identityHeaders, isAuthentikHeader, stripAuthentikHeaders } from "./headers.ts";
import { testApplication } from "./testing.ts";

const identity = (attributes: Record<string, unknown> = {}, name = "Alice"): Identity => ({
  claims: {
    sub: "uid-1",
    preferred_username: "alice",
    email: "alice@example.test",
    name,
    groups: ["a", "b"],
    entitlements: ["e1"],
    ak_proxy: { user_attributes: attributes },
  },
  token: "jwt",
  sid: null,
  expires: Number.MAX_SAFE_INTEGER,
});

describe("identity headers", () => {
  test("client-sent X-authentik-* go, in any case, with underscores, repeated", () => {
    const h = new Headers([
      ["X-authentik-username", "mallory"],
      ["x-authentik-username", "again"],
      ["X_authentik_username", "mallory"],
      ["x_Authentik-groups", "admins"],
      ["X-Other", "kept"],
    ]);
    stripAuthentikHeaders(h);
    expect([...h.keys()]).toEqual(["x-other"]);
    expect(isAuthentikHeader("X_AUTHENTIK_JWT")).toBe(true);
    expect(isAuthentikHeader("X-Authentication")).toBe(false);
  });

  test("names beyond Latin-1 are sent as UTF-8 bytes, which Headers and the wire accept", () => {
    const pairs = identityHeaders(testApplication(), identity({}, "Łukasz 李"), { outpost: "edge" });
    const name = Object.fromEntries(pairs)["X-authentik-name"] as string;
    expect(Buffer.from(name, "latin1").toString("utf8")).toBe("Łukasz 李");
    expect(() => new Headers(pairs)).not.toThrow();
    const plain = Object.fromEntries(
      identityHeaders(testApplication(), identity({}, "José"), { outpost: "e" }),
    );
    expect(Buffer.from(plain["X-authentik-name"] as string, "latin1").toString("utf8")).toBe("José");
  });

  test("carry the user, the groups and entitlements |-joined, and the meta headers", () => {
    const headers = Object.fromEntries(identityHeaders(testApplication(), identity(), { outpost: "edge" }));
    expect(headers).toMatchObject({
      "X-authentik-username": "alice",
      "X-authentik-groups": "a|b",
      "X-authentik-entitlements": "e1",
      "X-authentik-email": "alice@example.test",
      "X-authentik-name": "Alice",
      "X-authentik-uid": "uid-1",
      "X-authentik-jwt": "jwt",
      "X-authentik-meta-outpost": "edge",
      "X-authentik-meta-provider": "app",
      "X-authentik-meta-app": "app",
      "X-authentik-meta-jwks": "http://core.test/application/o/app/jwks/",
    });
    expect(headers["X-authentik-meta-version"]).toStartWith("goauthentik.io/outpost/");
  });

  test("values with CR/LF are left out; additionalHeaders may not set framing or X-authentik-* names", () => {
    const headers = Object.fromEntries(
      identityHeaders(
        testApplication(),
        identity(
          {
            additionalHeaders: {
              "X-Team": "w",
              "X-Bad": "a\r\nInjected: 1",
              Host: "evil",
              "X-authentik-username": "root",
              "Bad Name": "x",
            },
          },
          "Eve\r\nX-authentik-username: root",
        ),
        { outpost: "edge" },
      ),
    );
    expect(headers["X-Team"]).toBe("w");
    expect(headers["X-Bad"]).toBeUndefined();
    expect(headers.Host).toBeUndefined();
    expect(headers["Bad Name"]).toBeUndefined();
    expect(headers["X-authentik-name"]).toBeUndefined();
    expect(headers["X-authentik-username"]).toBe("alice");
  });

  test("basic-auth passthrough takes the user's attributes, falling back to the email", () => {
    const app = testApplication({
      basic_auth_enabled: true,
      basic_auth_user_attribute: "login",
      basic_auth_password_attribute: "pw",
    });
    const basic = (attrs: Record<string, unknown>) =>
      Buffer.from(
        (
          Object.fromEntries(identityHeaders(app, identity(attrs), { outpost: "o" })).Authorization ?? ""
        ).slice(6),
        "base64",
      ).toString();
    expect(basic({ login: "al", pw: "secret" })).toBe("al:secret");
    expect(basic({ pw: "secret" })).toBe("alice@example.test:secret");
  });
});
