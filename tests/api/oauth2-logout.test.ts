/**
 * Logout for OAuth2 clients: RP-initiated logout at /application/o/<slug>/end-session/ through the
 * provider's invalidation flow, tokens ending with the browser session that got them, and back-channel
 * Logout Tokens posted to a real HTTP receiver and checked against the provider's JWKS.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createLocalJWKSet, decodeJwt, type JSONWebKeySet, jwtVerify } from "jose";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";
import { managedScopes, oauth2Application } from "../support/oauth2.ts";

const REDIRECT = "https://app.example.test/callback";
const LOGGED_OUT = "https://app.example.test/logged-out";
const AUTH = "default-authentication-flow";
const VERIFIER = `${"a".repeat(20)}-verifier-0123456789-abcdefghijkl`;
const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

interface Client {
  pk: number;
  client_id: string;
  client_secret: string;
}

interface Tokens {
  access_token: string;
  refresh_token: string;
  id_token: string;
}

/** Waits until `check` holds (work a signal started runs after the request that ended the session). */
async function eventually(check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(20);
  }
}

for (const backend of backendNames()) {
  describe(`OAuth2 logout on ${backend}`, () => {
    let t: TestCore;
    let now = Date.now();
    const handle = (r: Request) => t.core.app.handle(r);
    const received: { type: string; body: string }[] = [];
    let receiver: ReturnType<typeof Bun.serve>;
    let deadPort = 0;
    let wiki: Client;
    let notes: Client;
    let dead: Client;
    let portal: Client;
    let alicePk = 0;

    const flowPk = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;

    const makeApp = async (slug: string, extra: Record<string, unknown> = {}): Promise<Client> =>
      oauth2Application(t, slug, {
        redirect_uris: [
          { matching_mode: "strict", url: REDIRECT },
          { matching_mode: "strict", url: LOGGED_OUT },
        ],
        property_mappings: await managedScopes(t),
        ...extra,
      });

    beforeAll(async () => {
      receiver = Bun.serve({
        port: 0,
        hostname: "127.0.0.1",
        fetch: async (req) => {
          received.push({ type: req.headers.get("content-type") ?? "", body: await req.text() });
          return new Response(null, { status: 204 });
        },
      });
      const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
      deadPort = closed.port ?? 0;
      await closed.stop(true);

      t = await startTestCore(backend, {}, () => new Date(now));
      const user = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "alice", name: "Alice Doe", email: "alice@example.test" },
      });
      alicePk = user.body.pk;
      await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
        body: { password: "alice-password" },
      });
      wiki = await makeApp("wiki", {
        logout_method: "backchannel",
        logout_uri: `http://127.0.0.1:${receiver.port}/backchannel-logout`,
      });
      notes = await makeApp("notes", {
        invalidation_flow: await flowPk("default-provider-invalidation-flow"),
      });
      portal = await makeApp("portal", {
        logout_method: "frontchannel",
        logout_uri: "https://portal.example.test/fc-logout?x=1",
      });
      dead = await makeApp("dead", {
        logout_method: "backchannel",
        logout_uri: `http://127.0.0.1:${deadPort}/backchannel-logout`,
      });
    });
    afterAll(async () => {
      await t.stop();
      await receiver.stop(true);
    });

    async function signedIn(): Promise<FlowClient> {
      const c = new FlowClient(handle);
      expect((await c.login(AUTH, "alice", "alice-password")).component).toBe("xak-flow-redirect");
      return c;
    }

    const withCookie = (c: FlowClient | undefined): Record<string, string> =>
      c?.cookie ? { cookie: `authentik_session=${c.cookie}` } : {};

    /** Follows a 302 to /if/flow/<slug>/ by running that flow; its final challenge. */
    // biome-ignore lint/suspicious/noExplicitAny: challenges are arbitrary JSON
    async function throughFlow(c: FlowClient, res: Response): Promise<any> {
      expect(res.status).toBe(302);
      const m = /^\/if\/flow\/([^/]+)\/$/.exec(res.headers.get("location") ?? "");
      if (!m) throw new Error(`not sent to a flow: ${res.headers.get("location")}`);
      return c.get(m[1] as string);
    }

    const form = (path: string, body: Record<string, string>) =>
      handle(
        new Request(`http://localhost${path}`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(body).toString(),
        }),
      );

    /** Signs in (or reuses `c`), authorizes `client` and exchanges the code. */
    async function tokensFor(client: Client, c?: FlowClient): Promise<{ c: FlowClient; tokens: Tokens }> {
      const browser = c ?? (await signedIn());
      const q = new URLSearchParams({
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        response_type: "code",
        scope: "openid email profile offline_access",
        state: "s",
        nonce: "n",
        code_challenge: s256(VERIFIER),
        code_challenge_method: "S256",
      });
      const done = await throughFlow(
        browser,
        await handle(
          new Request(`http://localhost/application/o/authorize/?${q}`, { headers: withCookie(browser) }),
        ),
      );
      expect(done.component).toBe("xak-flow-redirect");
      const code = new URL(done.to).searchParams.get("code") ?? "";
      const res = await form("/application/o/token/", {
        grant_type: "authorization_code",
        code,
        redirect_uri: REDIRECT,
        client_id: client.client_id,
        client_secret: client.client_secret,
        code_verifier: VERIFIER,
      });
      expect(res.status).toBe(200);
      return { c: browser, tokens: (await res.json()) as Tokens };
    }

    const endSession = (slug: string, params: Record<string, string>, c?: FlowClient) =>
      handle(
        new Request(`http://localhost/application/o/${slug}/end-session/?${new URLSearchParams(params)}`, {
          headers: withCookie(c),
        }),
      );

    /** What a client can still do with its tokens. */
    async function standing(client: Client, tokens: Tokens) {
      const info = await handle(
        new Request("http://localhost/application/o/userinfo/", {
          headers: { authorization: `Bearer ${tokens.access_token}` },
        }),
      );
      const introspect = (token: string) =>
        form("/application/o/introspect/", {
          token,
          client_id: client.client_id,
          client_secret: client.client_secret,
        }).then(async (r) => ((await r.json()) as { active: boolean }).active);
      return {
        userinfo: info.status,
        accessActive: await introspect(tokens.access_token),
        refreshActive: await introspect(tokens.refresh_token),
      };
    }

    async function refreshAnswer(client: Client, tokens: Tokens) {
      const res = await form("/application/o/token/", {
        grant_type: "refresh_token",
        refresh_token: tokens.refresh_token,
        client_id: client.client_id,
        client_secret: client.client_secret,
      });
      return { status: res.status, body: (await res.json()) as { error?: string } };
    }

    const revoked = { userinfo: 401, accessActive: false, refreshActive: false };
    const live = { userinfo: 200, accessActive: true, refreshActive: true };

    const jwks = async (slug: string) =>
      createLocalJWKSet(
        (await (
          await handle(new Request(`http://localhost/application/o/${slug}/jwks/`))
        ).json()) as JSONWebKeySet,
      );

    test("discovery lists the end-session endpoint and back-channel logout", async () => {
      const res = await handle(
        new Request("http://localhost/application/o/wiki/.well-known/openid-configuration"),
      );
      const doc = (await res.json()) as Record<string, unknown>;
      expect(doc.end_session_endpoint).toBe("http://localhost/application/o/wiki/end-session/");
      expect(doc.backchannel_logout_supported).toBe(true);
      expect(doc.backchannel_logout_session_supported).toBe(true);
      expect(doc.frontchannel_logout_supported).toBe(true);
      expect(doc.frontchannel_logout_session_supported).toBe(true);
    });

    test("end-session with a hint and a registered URI: signed out, back with state, tokens revoked, RP told", async () => {
      const { c, tokens } = await tokensFor(wiki);
      expect(await standing(wiki, tokens)).toEqual(live);
      const before = received.length;
      const res = await endSession(
        "wiki",
        { id_token_hint: tokens.id_token, post_logout_redirect_uri: LOGGED_OUT, state: "bye-1" },
        c,
      );
      const done = await throughFlow(c, res);
      expect(done.component).toBe("xak-flow-redirect");
      expect(done.to).toBe(`${LOGGED_OUT}?state=bye-1`);

      // default-invalidation-flow has a user-logout stage: the IdP session is gone too.
      const me = await handle(
        new Request("http://localhost/api/v3/core/users/me/", { headers: withCookie(c) }),
      );
      expect(me.status).toBe(403);
      await eventually(async () => (await standing(wiki, tokens)).userinfo === 401);
      expect(await standing(wiki, tokens)).toEqual(revoked);
      const refreshed = await refreshAnswer(wiki, tokens);
      expect(refreshed.status).toBe(400);
      expect(refreshed.body.error).toBe("invalid_grant");

      await eventually(() => received.length > before);
      const notice = received[before] as { type: string; body: string };
      expect(notice.type).toStartWith("application/x-www-form-urlencoded");
      const logoutToken = new URLSearchParams(notice.body).get("logout_token") ?? "";
      const { payload, protectedHeader } = await jwtVerify(logoutToken, await jwks("wiki"), {
        issuer: "http://localhost/application/o/wiki/",
        audience: wiki.client_id,
        typ: "logout+jwt",
      });
      expect(protectedHeader.typ).toBe("logout+jwt");
      const idToken = decodeJwt(tokens.id_token);
      expect(payload.sid).toBe(idToken.sid as string);
      expect(payload.sub).toBe(idToken.sub as string);
      expect(payload.events).toEqual({ "http://schemas.openid.net/event/backchannel-logout": {} });
      expect(payload.nonce).toBeUndefined();
      expect(typeof payload.jti).toBe("string");
      expect((payload.exp as number) - (payload.iat as number)).toBeLessThanOrEqual(120);
      expect(JSON.stringify(t.logs)).not.toContain(logoutToken);
    });

    test("an unregistered post_logout_redirect_uri is shown, not followed; nothing is revoked", async () => {
      const { c, tokens } = await tokensFor(wiki);
      const res = await endSession(
        "wiki",
        {
          id_token_hint: tokens.id_token,
          post_logout_redirect_uri: "https://evil.example.test/",
          state: "x",
        },
        c,
      );
      expect(res.status).toBe(400);
      expect(res.headers.get("location")).toBeNull();
      const page = await res.text();
      expect(page).toContain("Redirect URI Error");
      expect(page).not.toContain("evil.example.test");
      expect(await standing(wiki, tokens)).toEqual(live);
    });

    test("a bad id_token_hint is refused; an expired good one is accepted", async () => {
      const { c, tokens } = await tokensFor(wiki);
      const [h, p, sig] = tokens.id_token.split(".") as [string, string, string];
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...decodeJwt(tokens.id_token), sub: "mallory" })).toString("base64url")}.${sig}`;
      for (const hint of [forged, `${p}.${h}.${sig}`, "not-a-jwt"]) {
        const res = await endSession(
          "wiki",
          { id_token_hint: hint, post_logout_redirect_uri: LOGGED_OUT },
          c,
        );
        expect(res.status).toBe(400);
        expect(res.headers.get("location")).toBeNull();
      }
      // Another application's ID token is not this one's hint (aud), nor is a client_id of another.
      const other = await tokensFor(notes, c);
      expect((await endSession("wiki", { id_token_hint: other.tokens.id_token }, c)).status).toBe(400);
      expect((await endSession("wiki", { client_id: notes.client_id }, c)).status).toBe(400);
      expect(await standing(wiki, tokens)).toEqual(live);

      // An hour later the ID token has expired; it still says who the client is (no browser session here).
      const saved = now;
      now += 3_600_000;
      try {
        const res = await endSession("wiki", {
          id_token_hint: tokens.id_token,
          post_logout_redirect_uri: LOGGED_OUT,
          state: "late",
        });
        expect(res.status).toBe(302);
        expect(res.headers.get("location")).toBe(`${LOGGED_OUT}?state=late`);
      } finally {
        now = saved;
      }
    });

    test("the provider invalidation flow signs out of the one application, not the IdP", async () => {
      const { c, tokens } = await tokensFor(notes);
      const wikiTokens = (await tokensFor(wiki, c)).tokens;
      const done = await throughFlow(c, await endSession("notes", { id_token_hint: tokens.id_token }, c));
      expect(done.component).toBe("ak-stage-session-end");
      expect(done.application_name).toBe("notes");
      expect(done.flow_info.title).toBe("You've logged out of notes.");
      expect(done.invalidation_flow_url).toBe("/if/flow/default-invalidation-flow/");
      expect(await standing(notes, tokens)).toEqual(revoked);
      expect(await standing(wiki, wikiTokens)).toEqual(live);
      const me = await handle(
        new Request("http://localhost/api/v3/core/users/me/", { headers: withCookie(c) }),
      );
      expect(me.status).toBe(200);
    });

    test("an admin ending the user's session revokes its tokens and tells the client", async () => {
      now += 1000; // so that this sign-in is the most recently used session
      const { tokens } = await tokensFor(wiki);
      const sid = decodeJwt(tokens.id_token).sid;
      const sessions = await t.api("GET", "/api/v3/core/authenticated_sessions/?user__username=alice");
      const before = received.length;
      // The newest session is the one just signed in.
      const session = sessions.body.results[0] as { uuid: string };
      const res = await t.api("DELETE", `/api/v3/core/authenticated_sessions/${session.uuid}/`);
      expect(res.status).toBe(204);
      await eventually(async () => (await standing(wiki, tokens)).userinfo === 401);
      expect(await standing(wiki, tokens)).toEqual(revoked);
      await eventually(() =>
        received
          .slice(before)
          .some((r) => decodeJwt(new URLSearchParams(r.body).get("logout_token") ?? "").sid === sid),
      );
    });

    test("signing out everywhere and deactivating the user revoke tokens too", async () => {
      const first = await tokensFor(notes);
      const bulk = await t.api(
        "DELETE",
        `/api/v3/core/authenticated_sessions/bulk_delete/?user_pks=${alicePk}`,
      );
      expect(bulk.status, bulk.text).toBe(200);
      expect(bulk.body.deleted).toBeGreaterThan(0);
      await eventually(async () => (await standing(notes, first.tokens)).userinfo === 401);
      expect(await standing(notes, first.tokens)).toEqual(revoked);

      const second = await tokensFor(notes);
      const off = await t.api("PATCH", `/api/v3/core/users/${alicePk}/`, { body: { is_active: false } });
      expect(off.status, off.text).toBe(200);
      const on = await t.api("PATCH", `/api/v3/core/users/${alicePk}/`, { body: { is_active: true } });
      expect(on.status, on.text).toBe(200);
      // Active again, but the tokens of the sessions that ended stay revoked.
      await eventually(async () => (await standing(notes, second.tokens)).userinfo === 401);
      expect(await standing(notes, second.tokens)).toEqual(revoked);
    });

    test("front-channel clients of the ended session are loaded in iframes, then back to the client", async () => {
      const { c, tokens } = await tokensFor(portal);
      await tokensFor(wiki, c);
      const done = await throughFlow(
        c,
        await endSession(
          "portal",
          { id_token_hint: tokens.id_token, post_logout_redirect_uri: LOGGED_OUT, state: "fc" },
          c,
        ),
      );
      expect(done.component).toBe("ak-provider-iframe-logout");
      expect(done.redirect_to).toBe(`${LOGGED_OUT}?state=fc`);
      // Only the front-channel client: wiki logs out by back-channel.
      expect(done.logout_urls).toHaveLength(1);
      const url = new URL(done.logout_urls[0].url);
      expect(`${url.origin}${url.pathname}`).toBe("https://portal.example.test/fc-logout");
      expect(url.searchParams.get("x")).toBe("1");
      expect(url.searchParams.get("iss")).toBe("http://localhost/application/o/portal/");
      expect(url.searchParams.get("sid")).toBe(decodeJwt(tokens.id_token).sid as string);
      expect(done.logout_urls[0].provider_name).toBe("portal");
      await eventually(async () => (await standing(portal, tokens)).userinfo === 401);
    });

    test("a dead logout_uri does not get in the way of logout", async () => {
      const { c, tokens } = await tokensFor(dead);
      const done = await throughFlow(
        c,
        await endSession("dead", { post_logout_redirect_uri: LOGGED_OUT, state: "z" }, c),
      );
      expect(done.to).toBe(`${LOGGED_OUT}?state=z`);
      await eventually(async () => (await standing(dead, tokens)).userinfo === 401);
      expect(await standing(dead, tokens)).toEqual(revoked);
      // Refused at once, normally; should another process have taken the port, the 5 s timeout ends it.
      const failed = (l: Record<string, unknown>) =>
        l.provider === "dead" && (l.code === "OA0103LogoutUndelivered" || l.code === "OA0102LogoutRefused");
      await eventually(() => t.logs.some(failed), 10_000);
      const line = t.logs.find(failed);
      expect(line?.provider).toBe("dead");
    });

    test("an unknown application is 404; a form POST without a session goes straight back", async () => {
      expect((await endSession("nope", {})).status).toBe(404);
      const post = await form("/application/o/wiki/end-session/", {
        post_logout_redirect_uri: LOGGED_OUT,
        state: "p",
      });
      expect(post.status).toBe(302);
      expect(post.headers.get("location")).toBe(`${LOGGED_OUT}?state=p`);
    });
  });
}
