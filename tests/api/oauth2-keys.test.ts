import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { createLocalJWKSet, jwtVerify } from "jose";
import { type PublicJwk, publicKeyOf, signingKey, signJwt } from "../../core/src/oauth2/keys.ts";
import { housekeeping } from "../../core/src/worker.ts";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

for (const backend of backendNames()) {
  describe(`OAuth2 signing keys and the JWKS on ${backend}`, () => {
    let t: TestCore;
    let flows: { auth: string; logout: string };

    beforeAll(async () => {
      t = await startTestCore(backend);
      flows = {
        auth: (await t.api("GET", "/api/v3/flows/instances/default-authentication-flow/")).body.pk,
        logout: (await t.api("GET", "/api/v3/flows/instances/default-invalidation-flow/")).body.pk,
      };
    });
    afterAll(() => t.stop());

    /** An application with an OAuth2 provider signing with a new pair of `alg` (none: HS256). */
    const app = async (slug: string, alg?: "rsa" | "ecdsa") => {
      const pair = alg
        ? (
            await t.api("POST", "/api/v3/crypto/certificatekeypairs/generate/", {
              body: { common_name: `${slug}-signing`, validity_days: 30, alg },
            })
          ).body
        : undefined;
      const provider = (
        await t.api("POST", "/api/v3/providers/oauth2/", {
          body: {
            name: slug,
            authorization_flow: flows.auth,
            invalidation_flow: flows.logout,
            redirect_uris: [],
            signing_key: pair?.pk ?? null,
          },
        })
      ).body;
      await t.api("POST", "/api/v3/core/applications/", {
        body: { name: slug, slug, provider: provider.pk },
      });
      return { provider, pair };
    };

    for (const [alg, expected] of [
      ["ecdsa", { kty: "EC", alg: "ES256", crv: "P-256" }],
      ["rsa", { kty: "RSA", alg: "RS256" }],
    ] as const) {
      test(`${alg}: the JWKS publishes the certificate's public key, and tokens signed with it verify`, async () => {
        const { provider, pair } = await app(`jwks-${alg}`, alg);
        const res = await t.api("GET", `/application/o/jwks-${alg}/jwks/`, { token: null });
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toContain("application/json");
        const [jwk] = res.body.keys as PublicJwk[];
        expect(res.body.keys).toHaveLength(1);
        expect(jwk).toMatchObject({ ...expected, use: "sig" });
        expect(jwk?.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(jwk).not.toHaveProperty("d"); // never the private part
        const pem = (await t.api("GET", `/api/v3/crypto/certificatekeypairs/${pair.pk}/view_certificate/`))
          .body.data;
        const certKey = new X509Certificate(pem).publicKey.export({ format: "jwk" });
        expect(publicKeyOf(jwk as PublicJwk).export({ format: "jwk" })).toEqual(certKey);

        const row = await t.core.ctx.store.db
          .selectFrom("providers")
          .selectAll()
          .where("id", "=", provider.pk)
          .executeTakeFirstOrThrow();
        const key = await signingKey(t.core.ctx.store.db, row);
        const token = await signJwt(key, { sub: "someone", aud: provider.client_id, iss: "gatehouse-test" });
        const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(res.body), {
          audience: provider.client_id,
        });
        expect(payload.sub).toBe("someone");
        expect(protectedHeader).toMatchObject({ alg: expected.alg, kid: jwk?.kid, typ: "JWT" });
      });
    }

    test("without a signing key: HS256 with the client secret, and an empty JWKS", async () => {
      const { provider } = await app("jwks-none");
      const res = await t.api("GET", "/application/o/jwks-none/jwks/", { token: null });
      expect(res.body).toEqual({ keys: [] });
      const row = await t.core.ctx.store.db
        .selectFrom("providers")
        .selectAll()
        .where("id", "=", provider.pk)
        .executeTakeFirstOrThrow();
      const token = await signJwt(await signingKey(t.core.ctx.store.db, row), { sub: "x" });
      const { protectedHeader } = await jwtVerify(token, new TextEncoder().encode(provider.client_secret));
      expect(protectedHeader.alg).toBe("HS256");
    });

    test("an unknown application, or one without an OAuth2 provider, is a 404", async () => {
      expect((await t.api("GET", "/application/o/nope/jwks/", { token: null })).status).toBe(404);
      await t.api("POST", "/api/v3/core/applications/", { body: { name: "bare", slug: "bare" } });
      expect((await t.api("GET", "/application/o/bare/jwks/", { token: null })).status).toBe(404);
    });
  });
}

describe("OAuth2 token expiry", () => {
  let t: TestCore;
  let now = new Date("2030-01-01T00:00:00Z");
  beforeAll(async () => {
    t = await startTestCore("sqlite", {}, () => new Date(now));
  });
  afterAll(() => t.stop());

  test("an access token is inactive after access_token_validity, and housekeeping deletes it", async () => {
    const flow = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;
    const provider = (
      await t.api("POST", "/api/v3/providers/oauth2/", {
        body: {
          name: "short",
          authorization_flow: await flow("default-provider-authorization-implicit-consent"),
          invalidation_flow: await flow("default-invalidation-flow"),
          redirect_uris: [],
          access_token_validity: "minutes=2",
        },
      })
    ).body;
    await t.api("POST", "/api/v3/core/applications/", {
      body: { name: "Short", slug: "short", provider: provider.pk },
    });
    const post = (path: "token" | "introspect", body: Record<string, string>) =>
      t.core.app.handle(
        new Request(`http://gatehouse.test/application/o/${path}/`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            client_id: provider.client_id,
            client_secret: provider.client_secret,
            ...body,
          }),
        }),
      );
    const issued = (await (await post("token", { grant_type: "client_credentials" })).json()) as {
      access_token: string;
      expires_in: number;
    };
    expect(issued.expires_in).toBe(120);
    const introspect = async () =>
      (await (await post("introspect", { token: issued.access_token })).json()) as { active: boolean };
    expect((await introspect()).active).toBe(true);
    now = new Date(now.getTime() + 121_000);
    expect((await introspect()).active).toBe(false);
    await housekeeping(t.core.ctx);
    const left = await t.core.ctx.store.db.selectFrom("oauth2_tokens").selectAll().execute();
    expect(left).toHaveLength(0);
  });
});
