/**
 * Proxy outpost sessions in the core: an outpost registers a session for an access token its provider
 * got, any outpost serving the provider finds it by the cookie hash, and ending the core session (or
 * the user's deactivation) ends it at once. Outposts that don't serve the provider see nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

const EXTERNAL = "https://app.example.test";
const CALLBACK = `${EXTERNAL}/outpost.goauthentik.io/callback?X-authentik-auth-callback=true`;
const SESSIONS = "/api/v3/outposts/proxy/sessions/";
const VERIFIER = `${"v".repeat(43)}`;
const hash = (s: string) => createHash("sha256").update(s).digest("hex");

for (const backend of backendNames()) {
  describe(`proxy sessions on ${backend}`, () => {
    let t: TestCore;
    let provider: { pk: number; client_id: string };
    let clientSecret = "";
    let outpostToken = "";
    let strangerToken = "";
    const handle = (r: Request) => t.core.app.handle(r);

    async function outpost(name: string, providers: number[]): Promise<string> {
      const created = await t.api("POST", "/api/v3/outposts/instances/", {
        body: { name, type: "proxy", providers, config: {} },
      });
      expect(created.status, created.text).toBe(201);
      const key = await t.api("GET", `/api/v3/core/tokens/ak-outpost-${created.body.pk}-api/view_key/`);
      return key.body.key;
    }

    beforeAll(async () => {
      t = await startTestCore(backend);
      const flow = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;
      const created = await t.api("POST", "/api/v3/providers/proxy/", {
        body: {
          name: "app",
          mode: "forward_single",
          external_host: EXTERNAL,
          authorization_flow: await flow("default-provider-authorization-implicit-consent"),
          invalidation_flow: await flow("default-provider-invalidation-flow"),
        },
      });
      expect(created.status, created.text).toBe(201);
      provider = created.body;
      await t.api("POST", "/api/v3/core/applications/", {
        body: { name: "App", slug: "app", provider: provider.pk },
      });
      outpostToken = await outpost("edge", [provider.pk]);
      strangerToken = await outpost("elsewhere", []);
      const list = await t.api("GET", "/api/v3/outposts/proxy/", { token: outpostToken });
      expect(list.status, list.text).toBe(200);
      clientSecret = list.body.results[0].client_secret;
      const user = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "alice", name: "Alice", email: "alice@example.test" },
      });
      await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
        body: { password: "alice-password" },
      });
    });
    afterAll(() => t.stop());

    /** A login through the proxy provider's OAuth2 client, as the outpost does it: its access token. */
    async function login(): Promise<{ client: FlowClient; accessToken: string }> {
      const client = new FlowClient(handle);
      await client.login("default-authentication-flow", "alice", "alice-password");
      const q = new URLSearchParams({
        client_id: provider.client_id,
        redirect_uri: CALLBACK,
        response_type: "code",
        scope: "openid profile email ak_proxy",
        state: "s",
        code_challenge: createHash("sha256").update(VERIFIER).digest("base64url"),
        code_challenge_method: "S256",
      });
      const res = await handle(
        new Request(`http://localhost/application/o/authorize/?${q}`, {
          headers: { cookie: `authentik_session=${client.cookie}` },
        }),
      );
      const slug = /^\/if\/flow\/([^/]+)\/$/.exec(res.headers.get("location") ?? "")?.[1] ?? "";
      const done = await client.get(slug);
      const code = new URL(done.to).searchParams.get("code") ?? "";
      const token = await handle(
        new Request("http://localhost/application/o/token/", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "authorization_code",
            code,
            redirect_uri: CALLBACK,
            client_id: provider.client_id,
            client_secret: clientSecret,
            code_verifier: VERIFIER,
          }),
        }),
      );
      const body = (await token.json()) as { access_token: string };
      expect(token.status, JSON.stringify(body)).toBe(200);
      return { client, accessToken: body.access_token };
    }

    test("an outpost registers a session; any outpost serving the provider finds it, others do not", async () => {
      const { accessToken } = await login();
      const cookie = "cookie-value-1";
      const created = await t.api("POST", SESSIONS, {
        token: outpostToken,
        body: {
          session_hash: hash(cookie),
          provider: provider.pk,
          access_token: accessToken,
          sealed_token: "sealed-blob",
        },
      });
      expect(created.status, created.text).toBe(201);
      expect(created.body.claims).toMatchObject({ preferred_username: "alice", email: "alice@example.test" });
      expect(created.body.claims.ak_proxy).toBeDefined();
      expect(created.body.sid).toMatch(/^[0-9a-f]{64}$/);
      const found = await t.api("GET", `${SESSIONS}${hash(cookie)}/`, { token: outpostToken });
      expect(found.status).toBe(200);
      expect(found.body.sealed_token).toBe("sealed-blob");
      expect((await t.api("GET", `${SESSIONS}${hash(cookie)}/`, { token: strangerToken })).status).toBe(404);
      const foreign = await t.api("POST", SESSIONS, {
        token: strangerToken,
        body: {
          session_hash: hash("x"),
          provider: provider.pk,
          access_token: accessToken,
          sealed_token: "s",
        },
      });
      expect(foreign.status).toBe(403);
      expect((await t.api("DELETE", `${SESSIONS}${hash(cookie)}/`, { token: outpostToken })).status).toBe(
        204,
      );
      expect((await t.api("GET", `${SESSIONS}${hash(cookie)}/`, { token: outpostToken })).status).toBe(404);
    });

    test("a forged or foreign token makes no session; malformed hashes are refused", async () => {
      const bad = await t.api("POST", SESSIONS, {
        token: outpostToken,
        body: {
          session_hash: hash("y"),
          provider: provider.pk,
          access_token: "eyJ.forged.jwt",
          sealed_token: "s",
        },
      });
      expect(bad.status).toBe(400);
      expect(bad.body).toHaveProperty("access_token");
      const shape = await t.api("POST", SESSIONS, {
        token: outpostToken,
        body: { session_hash: "not-a-hash", provider: provider.pk, access_token: "x", sealed_token: "s" },
      });
      expect(shape.status).toBe(400);
      expect((await t.api("GET", `${SESSIONS}nope/`, { token: outpostToken })).status).toBe(404);
    });

    test("ending the core session ends the proxy session at once", async () => {
      const { client, accessToken } = await login();
      const sessionHash = hash("cookie-value-2");
      await t.api("POST", SESSIONS, {
        token: outpostToken,
        body: {
          session_hash: sessionHash,
          provider: provider.pk,
          access_token: accessToken,
          sealed_token: "s",
        },
      });
      expect((await t.api("GET", `${SESSIONS}${sessionHash}/`, { token: outpostToken })).status).toBe(200);
      // The user signs out of the core through the invalidation flow.
      await client.get("default-invalidation-flow");
      expect((await t.api("GET", `${SESSIONS}${sessionHash}/`, { token: outpostToken })).status).toBe(404);
    });
  });
}
