/**
 * The authorization endpoint and the code, refresh and app-password grants, driven through the flow
 * executor API the way a headless client would: sign in, GET /application/o/authorize/, run the flow
 * it sends us to, exchange the code. ID tokens are checked against the JWKS with jose.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createLocalJWKSet, decodeJwt, type JSONWebKeySet, jwtVerify } from "jose";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";
import { flowPk, managedScopes, oauth2Application, userWithPassword } from "../support/oauth2.ts";

const REDIRECT = "https://app.example.test/callback";
const AUTH = "default-authentication-flow";
const EXPLICIT = "default-provider-authorization-explicit-consent";

const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");
const VERIFIER = `${"a".repeat(20)}-verifier-0123456789-abcdefghijkl`;

interface Client {
  pk: number;
  client_id: string;
  client_secret: string;
}

for (const backend of backendNames()) {
  describe(`OAuth2 authorization on ${backend}`, () => {
    let t: TestCore;
    let now = Date.now();
    let app: Client;
    let publicApp: Client;
    let consentApp: Client;
    let scopePks: string[] = [];
    const handle = (r: Request) => t.core.app.handle(r);

    const makeApp = (slug: string, extra: Record<string, unknown> = {}): Promise<Client> =>
      oauth2Application(t, slug, {
        redirect_uris: [
          { matching_mode: "strict", url: REDIRECT },
          { matching_mode: "regex", url: "https://([a-z]+)\\.example\\.test/cb" },
        ],
        property_mappings: scopePks,
        ...extra,
      });

    beforeAll(async () => {
      t = await startTestCore(backend, {}, () => new Date(now));
      scopePks = await managedScopes(t);
      await userWithPassword(t, "alice", { name: "Alice Doe" });
      app = await makeApp("wiki");
      publicApp = await makeApp("spa", { client_type: "public" });
      consentApp = await makeApp("payroll", { authorization_flow: await flowPk(t, EXPLICIT) });
    });
    afterAll(() => t.stop());

    async function signedIn(): Promise<FlowClient> {
      const c = new FlowClient(handle);
      const done = await c.login(AUTH, "alice", "alice-password");
      expect(done.component).toBe("xak-flow-redirect");
      return c;
    }

    function authorizeUrl(client: Client, extra: Record<string, string> = {}): string {
      const q = new URLSearchParams({
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        response_type: "code",
        scope: "openid email profile offline_access",
        state: "state-123",
        nonce: "nonce-456",
        code_challenge: s256(VERIFIER),
        code_challenge_method: "S256",
        ...extra,
      });
      return `http://localhost/application/o/authorize/?${q}`;
    }

    async function authorize(c: FlowClient | undefined, url: string): Promise<Response> {
      return handle(
        new Request(url, { headers: c?.cookie ? { cookie: `authentik_session=${c.cookie}` } : {} }),
      );
    }

    /** Authorize, then run the flow it leads to; the flow's final challenge. */
    // biome-ignore lint/suspicious/noExplicitAny: challenges are arbitrary JSON
    async function authorizeThroughFlow(c: FlowClient, url: string): Promise<any> {
      const res = await authorize(c, url);
      expect(res.status).toBe(302);
      const location = res.headers.get("location") ?? "";
      const m = /^\/if\/flow\/([^/]+)\/$/.exec(location);
      if (!m) return { redirectedTo: location };
      return c.get(m[1] as string);
    }

    function codeFrom(challenge: { component: string; to: string }): URL {
      expect(challenge.component).toBe("xak-flow-redirect");
      return new URL(challenge.to);
    }

    const token = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      handle(
        new Request("http://localhost/application/o/token/", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
          body: new URLSearchParams(body).toString(),
        }),
      ).then(async (r) => ({
        status: r.status,
        headers: r.headers,
        // biome-ignore lint/suspicious/noExplicitAny: token answers are arbitrary JSON
        body: (await r.json()) as any,
      }));

    const jwks = async (slug: string) =>
      createLocalJWKSet(
        (await (
          await handle(new Request(`http://localhost/application/o/${slug}/jwks/`))
        ).json()) as JSONWebKeySet,
      );

    async function codeFor(client: Client, extra: Record<string, string> = {}): Promise<string> {
      const c = await signedIn();
      const url = codeFrom(await authorizeThroughFlow(c, authorizeUrl(client, extra)));
      return url.searchParams.get("code") ?? "";
    }

    const exchange = (client: Client, code: string, extra: Record<string, string> = {}) =>
      token({
        grant_type: "authorization_code",
        code,
        redirect_uri: REDIRECT,
        client_id: client.client_id,
        client_secret: client.client_secret,
        code_verifier: VERIFIER,
        ...extra,
      });

    test("code + PKCE through the executor: tokens, a valid ID token, userinfo, and an event", async () => {
      const c = await signedIn();
      const done = await authorizeThroughFlow(c, authorizeUrl(app));
      const back = codeFrom(done);
      expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
      expect(back.searchParams.get("state")).toBe("state-123");
      const code = back.searchParams.get("code") ?? "";
      expect(code.length).toBeGreaterThan(30);

      const res = await exchange(app, code);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.body).toMatchObject({ token_type: "Bearer", expires_in: 300 });
      expect(res.body.scope.split(" ").sort()).toEqual(["email", "offline_access", "openid", "profile"]);
      expect(typeof res.body.refresh_token).toBe("string");
      const { payload } = await jwtVerify(res.body.id_token, await jwks("wiki"), {
        issuer: "http://localhost/application/o/wiki/",
        audience: app.client_id,
      });
      expect(payload).toMatchObject({
        nonce: "nonce-456",
        email: "alice@example.test",
        preferred_username: "alice",
        acr: "goauthentik.io/providers/oauth2/default",
        amr: ["pwd"],
      });
      expect(typeof payload.auth_time).toBe("number");
      expect(typeof payload.sid).toBe("string");
      const atHash = createHash("sha256").update(res.body.access_token).digest().subarray(0, 16);
      expect(payload.at_hash).toBe(atHash.toString("base64url"));

      const info = await handle(
        new Request("http://localhost/application/o/userinfo/", {
          headers: { authorization: `Bearer ${res.body.access_token}` },
        }),
      );
      expect(info.status).toBe(200);
      expect(await info.json()).toMatchObject({
        sub: payload.sub,
        email: "alice@example.test",
        name: "Alice Doe",
      });
      const events = await t.api("GET", "/api/v3/events/events/?action=authorize_application");
      const event = events.body.results.find(
        (e: { context: { authorized_application?: { name: string } } }) =>
          e.context.authorized_application?.name === "wiki",
      );
      expect(event.context.scopes).toContain("email");
      expect(event.user.username).toBe("alice");
    });

    test("userinfo refuses a missing, unknown or revoked token with Bearer errors", async () => {
      const none = await handle(new Request("http://localhost/application/o/userinfo/"));
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toStartWith("Bearer");
      const bad = await handle(
        new Request("http://localhost/application/o/userinfo/", {
          headers: { authorization: "Bearer nope" },
        }),
      );
      expect(bad.status).toBe(401);
      expect(bad.headers.get("www-authenticate")).toContain('error="invalid_token"');
    });

    test("a code is single use: the second exchange fails and revokes what the first issued", async () => {
      const code = await codeFor(app);
      const first = await exchange(app, code);
      expect(first.status).toBe(200);
      const again = await exchange(app, code);
      expect(again.status).toBe(400);
      expect(again.body.error).toBe("invalid_grant");
      const introspect = await token({});
      expect(introspect.status).toBe(400);
      const info = await handle(
        new Request("http://localhost/application/o/userinfo/", {
          headers: { authorization: `Bearer ${first.body.access_token}` },
        }),
      );
      expect(info.status).toBe(401);
      const refresh = await token({
        grant_type: "refresh_token",
        refresh_token: first.body.refresh_token,
        client_id: app.client_id,
        client_secret: app.client_secret,
      });
      expect(refresh.body.error).toBe("invalid_grant");
    });

    test("a code is bound to its client, redirect URI and PKCE verifier, and expires", async () => {
      const code = await codeFor(app);
      const otherClient = await exchange(publicApp, code, { client_secret: "" });
      expect(otherClient.body.error).toBe("invalid_grant");
      const wrongRedirect = await exchange(app, code, { redirect_uri: "https://other.example.test/cb" });
      expect(wrongRedirect.body.error).toBe("invalid_grant");
      const wrongVerifier = await exchange(app, code, { code_verifier: `${VERIFIER}x` });
      expect(wrongVerifier.body.error).toBe("invalid_grant");
      const noVerifier = await exchange(app, code, { code_verifier: "" });
      expect(noVerifier.body.error).toBe("invalid_grant");
      const wrongSecret = await exchange(app, code, { client_secret: "wrong" });
      expect(wrongSecret.status).toBe(401);
      expect(wrongSecret.body.error).toBe("invalid_client");
      // None of those used it up.
      expect((await exchange(app, code)).status).toBe(200);

      const late = await codeFor(app);
      now += 61_000;
      try {
        const expired = await exchange(app, late);
        expect(expired.body.error).toBe("invalid_grant");
      } finally {
        now -= 61_000;
      }
    });

    test("refresh tokens rotate; a reused one revokes the whole family", async () => {
      const first = await exchange(app, await codeFor(app));
      const creds = { client_id: app.client_id, client_secret: app.client_secret };
      const second = await token({
        grant_type: "refresh_token",
        refresh_token: first.body.refresh_token,
        ...creds,
      });
      expect(second.status, JSON.stringify(second.body)).toBe(200);
      expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
      expect(decodeJwt(second.body.id_token).nonce).toBeUndefined();
      const narrowed = await token({
        grant_type: "refresh_token",
        refresh_token: second.body.refresh_token,
        scope: "openid offline_access",
        ...creds,
      });
      expect(narrowed.status).toBe(200);
      expect(narrowed.body.scope).toBe("openid offline_access");
      const wider = await token({
        grant_type: "refresh_token",
        refresh_token: narrowed.body.refresh_token,
        scope: "openid offline_access email",
        ...creds,
      });
      expect(wider.body.error).toBe("invalid_scope");

      // The first refresh token again: theft assumed, everything of the family goes.
      const reused = await token({
        grant_type: "refresh_token",
        refresh_token: first.body.refresh_token,
        ...creds,
      });
      expect(reused.body.error).toBe("invalid_grant");
      const latest = await token({
        grant_type: "refresh_token",
        refresh_token: narrowed.body.refresh_token,
        ...creds,
      });
      expect(latest.body.error).toBe("invalid_grant");
      const info = await handle(
        new Request("http://localhost/application/o/userinfo/", {
          headers: { authorization: `Bearer ${narrowed.body.access_token}` },
        }),
      );
      expect(info.status).toBe(401);
      expect(t.logs.some((l) => l.code === "OA0004RefreshReused")).toBe(true);
    });

    test("introspection knows refresh tokens; revoking one revokes its grant's access tokens", async () => {
      const tokens = await exchange(app, await codeFor(app));
      const form = (path: string, body: Record<string, string>) =>
        handle(
          new Request(`http://localhost/application/o/${path}/`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
              client_id: app.client_id,
              client_secret: app.client_secret,
              ...body,
            }),
          }),
        );
      const refresh = await (await form("introspect", { token: tokens.body.refresh_token })).json();
      expect(refresh).toMatchObject({ active: true, token_type: "refresh_token", client_id: app.client_id });
      const active = async (token: string) =>
        ((await (await form("introspect", { token })).json()) as { active: boolean }).active;
      expect(await active(tokens.body.access_token)).toBe(true);
      expect((await form("revoke", { token: tokens.body.refresh_token })).status).toBe(200);
      expect(await active(tokens.body.access_token)).toBe(false);
      // A public client revokes with its client_id alone.
      const spa = await exchange(publicApp, await codeFor(publicApp), { client_secret: "" });
      const revoked = await handle(
        new Request("http://localhost/application/o/revoke/", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ client_id: publicApp.client_id, token: spa.body.access_token }),
        }),
      );
      expect(revoked.status).toBe(200);
      const info = await handle(
        new Request("http://localhost/application/o/userinfo/", {
          headers: { authorization: `Bearer ${spa.body.access_token}` },
        }),
      );
      expect(info.status).toBe(401);
    });

    test("no refresh token without offline_access", async () => {
      const res = await exchange(app, await codeFor(app, { scope: "openid email" }));
      expect(res.status).toBe(200);
      expect(res.body.refresh_token).toBeUndefined();
    });

    test("public clients need PKCE and no secret; plain is refused unless enabled", async () => {
      const c = await signedIn();
      const without = await authorize(
        c,
        authorizeUrl(publicApp, { code_challenge: "", code_challenge_method: "" }).replace(
          /&code_challenge=&code_challenge_method=/,
          "",
        ),
      );
      const back = new URL(without.headers.get("location") ?? "");
      expect(back.searchParams.get("error")).toBe("invalid_request");
      expect(back.searchParams.get("state")).toBe("state-123");
      const plain = await authorize(
        c,
        authorizeUrl(publicApp, { code_challenge: VERIFIER, code_challenge_method: "plain" }),
      );
      expect(new URL(plain.headers.get("location") ?? "").searchParams.get("error")).toBe("invalid_request");
      const code = codeFrom(await authorizeThroughFlow(c, authorizeUrl(publicApp))).searchParams.get("code");
      const res = await token({
        grant_type: "authorization_code",
        code: code ?? "",
        redirect_uri: REDIRECT,
        client_id: publicApp.client_id,
        code_verifier: VERIFIER,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      // A public client cannot use client credentials.
      const cc = await token({ grant_type: "client_credentials", client_id: publicApp.client_id });
      expect(cc.status).toBe(401);
    });

    test("a wrong redirect URI or client is shown to the user, never redirected", async () => {
      const c = await signedIn();
      for (const url of [
        authorizeUrl(app, { redirect_uri: "https://evil.example.test/callback" }),
        authorizeUrl(app, { redirect_uri: "https://a.example.test/cb/../evil" }),
        authorizeUrl(app, { client_id: "nobody" }),
      ]) {
        const res = await authorize(c, url);
        expect(res.status).toBe(400);
        expect(res.headers.get("location")).toBeNull();
        expect(res.headers.get("content-type")).toContain("text/html");
        expect(await res.text()).not.toContain("evil.example.test");
      }
      // A regex redirect URI matches as a whole.
      const regex = await authorize(c, authorizeUrl(app, { redirect_uri: "https://shop.example.test/cb" }));
      expect(regex.status).toBe(302);
    });

    test("RFC 6749 errors go back to the client with the state", async () => {
      const c = await signedIn();
      const errorOf = async (extra: Record<string, string>) => {
        const res = await authorize(c, authorizeUrl(app, extra));
        expect(res.status).toBe(302);
        const to = new URL(res.headers.get("location") ?? "");
        expect(`${to.origin}${to.pathname}`).toBe(REDIRECT);
        return to.searchParams.get("error");
      };
      expect(await errorOf({ response_type: "" })).toBe("invalid_request");
      expect(await errorOf({ response_type: "magic" })).toBe("unsupported_response_type");
      expect(await errorOf({ response_mode: "carrier-pigeon" })).toBe("invalid_request");
      expect(await errorOf({ code_challenge_method: "S512" })).toBe("invalid_request");
      expect(await errorOf({ prompt: "none login" })).toBe("invalid_request");
      expect(await errorOf({ max_age: "soon" })).toBe("invalid_request");
      const anonymous = await authorize(undefined, authorizeUrl(app, { prompt: "none" }));
      expect(new URL(anonymous.headers.get("location") ?? "").searchParams.get("error")).toBe(
        "login_required",
      );
    });

    test("signed out: to the brand's login flow and back, then on to the code", async () => {
      const res = await authorize(undefined, authorizeUrl(app, { prompt: "login" }));
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get("location") ?? "", "http://localhost");
      expect(location.pathname).toBe(`/if/flow/${AUTH}/`);
      const next = location.searchParams.get("next") ?? "";
      expect(next).toStartWith("/application/o/authorize/?");
      expect(next).not.toContain("prompt=login");
      const c = new FlowClient(handle);
      const done = await c.login(AUTH, "alice", "alice-password", `next=${encodeURIComponent(next)}`);
      expect(done.to).toBe(next);
      const back = codeFrom(await authorizeThroughFlow(c, `http://localhost${next}`));
      expect(back.searchParams.get("code")).toBeTruthy();
    });

    test("explicit consent: asked, remembered per the stage, prompt=none and prompt=consent", async () => {
      const c = await signedIn();
      const asked = await authorizeThroughFlow(c, authorizeUrl(consentApp));
      expect(asked.component).toBe("ak-stage-consent");
      expect(asked.permissions.map((p: { id: string }) => p.id)).toEqual(
        expect.arrayContaining(["email", "profile"]),
      );
      const silent = await authorize(c, authorizeUrl(consentApp, { prompt: "none" }));
      expect(silent.status).toBe(302);
      const silentFlow = (silent.headers.get("location") ?? "").match(/^\/if\/flow\/([^/]+)\/$/)?.[1] ?? "";
      const refused = codeFrom(await c.get(silentFlow));
      expect(refused.searchParams.get("error")).toBe("consent_required");
      expect(refused.searchParams.get("state")).toBe("state-123");

      const again = await authorizeThroughFlow(c, authorizeUrl(consentApp));
      const done = await c.post(EXPLICIT, { component: "ak-stage-consent", token: again.token });
      expect(codeFrom(done).searchParams.get("code")).toBeTruthy();
    });

    test("an application bound to a group policy is hidden from and refused to others", async () => {
      const group = await t.api("POST", "/api/v3/core/groups/", { body: { name: "wiki-editors" } });
      const secret = await makeApp("secret-wiki");
      const policy = await t.api("POST", "/api/v3/policies/bindings/", {
        body: {
          target: (await t.api("GET", "/api/v3/core/applications/secret-wiki/")).body.pk,
          group: group.body.pk,
          order: 0,
        },
      });
      expect(policy.status, policy.text).toBe(201);
      const c = await signedIn();
      const denied = await authorizeThroughFlow(c, authorizeUrl(secret));
      expect(denied.component).toBe("ak-stage-access-denied");
      const silent = await authorize(c, authorizeUrl(secret, { prompt: "none" }));
      expect(new URL(silent.headers.get("location") ?? "").searchParams.get("error")).toBe("access_denied");

      const alice = (await t.api("GET", "/api/v3/core/users/?username=alice")).body.results[0];
      const check = await t.api(
        "GET",
        `/api/v3/core/applications/secret-wiki/check_access/?for_user=${alice.pk}`,
      );
      expect(check.body.passing).toBe(false);
      await t.api("POST", `/api/v3/core/groups/${group.body.pk}/add_user/`, { body: { pk: alice.pk } });
      const allowed = await authorizeThroughFlow(c, authorizeUrl(secret));
      expect(codeFrom(allowed).searchParams.get("code")).toBeTruthy();
    });

    test("implicit and hybrid: tokens in the fragment; form_post as an auto-submitted form", async () => {
      const c = await signedIn();
      const implicit = codeFrom(
        await authorizeThroughFlow(c, authorizeUrl(app, { response_type: "id_token token" })),
      );
      expect(implicit.search).toBe("");
      const fragment = new URLSearchParams(implicit.hash.slice(1));
      expect(fragment.get("state")).toBe("state-123");
      const idToken = fragment.get("id_token") ?? "";
      const { payload } = await jwtVerify(idToken, await jwks("wiki"), { audience: app.client_id });
      expect(payload.nonce).toBe("nonce-456");
      expect(payload.at_hash).toBeTruthy();
      expect(fragment.get("access_token")).toBeTruthy();

      const hybrid = codeFrom(
        await authorizeThroughFlow(c, authorizeUrl(app, { response_type: "code id_token" })),
      );
      const parts = new URLSearchParams(hybrid.hash.slice(1));
      const cHash = createHash("sha256")
        .update(parts.get("code") ?? "")
        .digest()
        .subarray(0, 16)
        .toString("base64url");
      expect(decodeJwt(parts.get("id_token") ?? "").c_hash).toBe(cHash);
      expect(parts.get("access_token")).toBeNull();

      const noNonce = await authorize(c, authorizeUrl(app, { response_type: "id_token", nonce: "" }));
      expect(
        new URLSearchParams(new URL(noNonce.headers.get("location") ?? "").hash.slice(1)).get("error"),
      ).toBe("invalid_request");

      const posted = await authorizeThroughFlow(c, authorizeUrl(app, { response_mode: "form_post" }));
      expect(posted.component).toBe("ak-stage-autosubmit");
      expect(posted.url).toBe(REDIRECT);
      expect(posted.attrs.state).toBe("state-123");
      expect(posted.attrs.code).toBeTruthy();
    });

    test("client credentials with a username and app password give that user's tokens", async () => {
      const alice = (await t.api("GET", "/api/v3/core/users/?username=alice")).body.results[0];
      const appPassword = await t.api("POST", "/api/v3/core/tokens/", {
        body: { identifier: "alice-wiki", user: alice.pk, intent: "app_password", expiring: false },
      });
      expect(appPassword.status, appPassword.text).toBe(201);
      const key = (await t.api("GET", "/api/v3/core/tokens/alice-wiki/view_key/")).body.key;
      const res = await token({
        grant_type: "client_credentials",
        client_id: app.client_id,
        username: "alice",
        password: key,
        scope: "openid email",
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(decodeJwt(res.body.id_token)).toMatchObject({ email: "alice@example.test" });
      expect(res.body.refresh_token).toBeUndefined();
      const wrong = await token({
        grant_type: "client_credentials",
        client_id: app.client_id,
        username: "alice",
        password: "alice-password",
      });
      expect(wrong.body.error).toBe("invalid_grant");
    });

    test("unknown grant types and malformed requests get RFC errors", async () => {
      const creds = { client_id: app.client_id, client_secret: app.client_secret };
      expect((await token({ grant_type: "password", ...creds })).body.error).toBe("unsupported_grant_type");
      expect((await token({ grant_type: "toString", ...creds })).body.error).toBe("unsupported_grant_type");
      expect((await token({ grant_type: "authorization_code", ...creds })).body.error).toBe(
        "invalid_request",
      );
      expect((await token({ grant_type: "authorization_code", code: "made-up", ...creds })).body.error).toBe(
        "invalid_grant",
      );
      const basic = await token(
        { grant_type: "authorization_code", code: "x" },
        { authorization: `Basic ${Buffer.from(`${app.client_id}:wrong`).toString("base64")}` },
      );
      expect(basic.status).toBe(401);
      expect(basic.headers.get("www-authenticate")).toContain("Basic");
    });
  });
}
