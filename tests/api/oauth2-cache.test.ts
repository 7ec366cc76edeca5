/**
 * The OAuth2 endpoints answer from memory (core/src/oauth2/cache.ts) and stay right when things change:
 * every change made through the API is seen by the very next request — a rotated client secret or
 * signing key, an edited certificate-key pair, scope mapping or application, a deleted provider.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

interface Client {
  pk: number;
  client_id: string;
  client_secret: string;
}

for (const backend of backendNames()) {
  describe(`OAuth2 caches on ${backend}`, () => {
    let t: TestCore;
    let flows: { auth: string; logout: string };
    const handle = (r: Request) => t.core.app.handle(r);

    beforeAll(async () => {
      t = await startTestCore(backend);
      flows = {
        auth: (await t.api("GET", "/api/v3/flows/instances/default-provider-authorization-implicit-consent/"))
          .body.pk,
        logout: (await t.api("GET", "/api/v3/flows/instances/default-invalidation-flow/")).body.pk,
      };
    });
    afterAll(() => t.stop());

    const pair = async (name: string, alg: "ecdsa" | "rsa" = "ecdsa") =>
      (
        await t.api("POST", "/api/v3/crypto/certificatekeypairs/generate/", {
          body: { common_name: name, validity_days: 30, alg },
        })
      ).body as { pk: string };

    async function app(slug: string, extra: Record<string, unknown> = {}): Promise<Client> {
      const provider = await t.api("POST", "/api/v3/providers/oauth2/", {
        body: {
          name: slug,
          authorization_flow: flows.auth,
          invalidation_flow: flows.logout,
          redirect_uris: [],
          signing_key: (await pair(`${slug}-signing`)).pk,
          ...extra,
        },
      });
      expect(provider.status, provider.text).toBe(201);
      const created = await t.api("POST", "/api/v3/core/applications/", {
        body: { name: slug, slug, provider: provider.body.pk },
      });
      expect(created.status, created.text).toBe(201);
      return provider.body;
    }

    const grant = (client: Client, secret = client.client_secret, scope = "") =>
      handle(
        new Request("http://localhost/application/o/token/", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "client_credentials",
            client_id: client.client_id,
            client_secret: secret,
            scope,
          }).toString(),
        }),
      ).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));

    // biome-ignore lint/suspicious/noExplicitAny: documents are arbitrary JSON
    const get = async (path: string): Promise<{ status: number; body: any }> => {
      const res = await handle(new Request(`http://localhost${path}`));
      return { status: res.status, body: res.status === 200 ? await res.json() : await res.text() };
    };
    const jwks = async (slug: string) => (await get(`/application/o/${slug}/jwks/`)).body as JSONWebKeySet;

    /** The access token verifies against the application's JWKS as served now; its payload. */
    async function verified(slug: string, token: string) {
      const { payload } = await jwtVerify(token, createLocalJWKSet(await jwks(slug)));
      return payload;
    }

    test("the service account and its claims are kept, and a change to the account shows at once", async () => {
      const scopes = (
        await t.api("GET", "/api/v3/propertymappings/provider/scope/?managed__isnull=false&page_size=50")
      ).body.results.map((m: { pk: string }) => m.pk);
      const client = await app("claims-kept", { property_mappings: scopes });
      const first = await grant(client, client.client_secret, "profile");
      expect(first.status).toBe(200);
      const account = (await t.api("GET", "/api/v3/core/users/?username=ak-claims-kept-client_credentials"))
        .body.results[0];
      const renamed = await t.api("PATCH", `/api/v3/core/users/${account.pk}/`, {
        body: { name: "Renamed bot" },
      });
      expect(renamed.status, renamed.text).toBe(200);
      const second = await grant(client, client.client_secret, "profile");
      expect((await verified("claims-kept", second.body.access_token as string)).name).toBe("Renamed bot");
      await t.api("PATCH", `/api/v3/core/users/${account.pk}/`, { body: { is_active: false } });
      const refused = await grant(client, client.client_secret, "profile");
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe("invalid_grant");
    });

    test("a rotated client secret: the old one stops working, the new one works, at once", async () => {
      const client = await app("rotate-secret");
      expect((await grant(client)).status).toBe(200); // the client is now in the index
      const res = await t.api("PATCH", `/api/v3/providers/oauth2/${client.pk}/`, {
        body: { client_secret: "a-brand-new-secret-0123456789" },
      });
      expect(res.status, res.text).toBe(200);
      expect((await grant(client)).status).toBe(401);
      expect((await grant(client, "a-brand-new-secret-0123456789")).status).toBe(200);
    });

    test("a changed client_id: the old one is unknown, the new one works", async () => {
      const client = await app("rotate-id");
      expect((await grant(client)).status).toBe(200);
      await t.api("PATCH", `/api/v3/providers/oauth2/${client.pk}/`, {
        body: { client_id: "renamed-client" },
      });
      expect((await grant(client)).status).toBe(401);
      expect((await grant({ ...client, client_id: "renamed-client" })).status).toBe(200);
    });

    test("a new signing key: the next token, the JWKS and discovery all use it", async () => {
      const client = await app("rotate-key");
      const before = await grant(client);
      const oldKid = decodeProtectedHeader(before.body.access_token ?? "").kid;
      expect((await jwks("rotate-key")).keys[0]?.kid).toBe(oldKid);
      expect((await get("/application/o/rotate-key/.well-known/openid-configuration")).body).toMatchObject({
        id_token_signing_alg_values_supported: ["ES256"],
      });

      const rsa = await pair("rotate-key-rsa", "rsa");
      await t.api("PATCH", `/api/v3/providers/oauth2/${client.pk}/`, { body: { signing_key: rsa.pk } });
      const after = await grant(client);
      const header = decodeProtectedHeader(after.body.access_token ?? "");
      expect(header.alg).toBe("RS256");
      expect(header.kid).not.toBe(oldKid);
      const served = await jwks("rotate-key");
      expect(served.keys.map((k) => k.kid)).toEqual([header.kid]);
      await verified("rotate-key", after.body.access_token ?? "");
      expect((await get("/application/o/rotate-key/.well-known/openid-configuration")).body).toMatchObject({
        id_token_signing_alg_values_supported: ["RS256"],
      });
    });

    test("a certificate-key pair edited in place: tokens are signed with its new key", async () => {
      const client = await app("edit-pair");
      const provider = (await t.api("GET", `/api/v3/providers/oauth2/${client.pk}/`)).body;
      const oldKid = decodeProtectedHeader((await grant(client)).body.access_token ?? "").kid;
      const other = await pair("edit-pair-replacement");
      const pem = async (kind: string, field: string) =>
        (await t.api("GET", `/api/v3/crypto/certificatekeypairs/${other.pk}/${kind}/`)).body[field];
      const res = await t.api("PATCH", `/api/v3/crypto/certificatekeypairs/${provider.signing_key}/`, {
        body: {
          certificate_data: await pem("view_certificate", "data"),
          key_data: await pem("view_private_key", "data"),
        },
      });
      expect(res.status, res.text).toBe(200);
      const token = (await grant(client)).body.access_token ?? "";
      expect(decodeProtectedHeader(token).kid).not.toBe(oldKid);
      await verified("edit-pair", token);
    });

    test("a deleted provider: its client_id stops working and its documents are gone", async () => {
      const client = await app("delete-me");
      expect((await grant(client)).status).toBe(200);
      expect((await get("/application/o/delete-me/jwks/")).status).toBe(200);
      expect((await get("/application/o/delete-me/.well-known/openid-configuration")).status).toBe(200);
      expect((await t.api("DELETE", `/api/v3/providers/oauth2/${client.pk}/`)).status).toBe(204);
      const res = await grant(client);
      expect(res.status).toBe(401);
      expect(res.body.error).toBe("invalid_client");
      expect((await get("/application/o/delete-me/jwks/")).status).toBe(404);
      expect((await get("/application/o/delete-me/.well-known/openid-configuration")).status).toBe(404);
    });

    test("an edited scope mapping gives its new claims in the next token", async () => {
      const mapping = await t.api("POST", "/api/v3/propertymappings/provider/scope/", {
        body: { name: "cache-test scope", scope_name: "team", expression: '{"team": "red"}' },
      });
      expect(mapping.status, mapping.text).toBe(201);
      const client = await app("mapping-edit", { property_mappings: [mapping.body.pk] });
      const before = await grant(client, client.client_secret, "team");
      expect((await verified("mapping-edit", before.body.access_token ?? "")).team).toBe("red");
      await t.api("PATCH", `/api/v3/propertymappings/provider/scope/${mapping.body.pk}/`, {
        body: { expression: '{"team": "blue"}' },
      });
      const after = await grant(client, client.client_secret, "team");
      expect((await verified("mapping-edit", after.body.access_token ?? "")).team).toBe("blue");
      const discovery = await get("/application/o/mapping-edit/.well-known/openid-configuration");
      expect(discovery.body.scopes_supported).toContain("team");

      await t.api("DELETE", `/api/v3/propertymappings/provider/scope/${mapping.body.pk}/`);
      expect((await grant(client, client.client_secret, "team")).body.error).toBe("invalid_scope");
      const gone = await get("/application/o/mapping-edit/.well-known/openid-configuration");
      expect(gone.body.scopes_supported).not.toContain("team");
    });

    test("a renamed application: the issuer and the documents follow the new slug", async () => {
      const client = await app("old-slug");
      const issuer = async (slug: string) =>
        (await verified(slug, (await grant(client)).body.access_token ?? "")).iss;
      expect(await issuer("old-slug")).toBe("http://localhost/application/o/old-slug/");
      expect((await get("/application/o/old-slug/jwks/")).status).toBe(200);
      const res = await t.api("PATCH", "/api/v3/core/applications/old-slug/", { body: { slug: "new-slug" } });
      expect(res.status, res.text).toBe(200);
      expect(await issuer("new-slug")).toBe("http://localhost/application/o/new-slug/");
      expect((await get("/application/o/old-slug/jwks/")).status).toBe(404);
      expect((await get("/application/o/new-slug/.well-known/openid-configuration")).body.issuer).toBe(
        "http://localhost/application/o/new-slug/",
      );
    });

    test("discovery is kept per origin: each host gets its own issuer", async () => {
      await app("two-hosts");
      const at = async (origin: string) => {
        const url = `${origin}/application/o/two-hosts/.well-known/openid-configuration`;
        return ((await (await handle(new Request(url))).json()) as { issuer: string }).issuer;
      };
      expect(await at("http://localhost")).toBe("http://localhost/application/o/two-hosts/");
      expect(await at("https://sso.example.test")).toBe("https://sso.example.test/application/o/two-hosts/");
      expect(await at("http://localhost")).toBe("http://localhost/application/o/two-hosts/");
    });
  });
}
