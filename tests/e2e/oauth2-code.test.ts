/**
 * The authorization code flow against a listening core, with openid-client (a certified relying party)
 * on one side and a headless user agent on the other: fetch with a cookie jar signs in through the
 * flow executor API, follows the authorization endpoint to the consent flow and answers it, the way
 * authentik's outposts and CLI clients drive flows. Then refresh rotation, introspection, revocation.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as oidc from "openid-client";
import { startServer } from "../../core/src/http/server.ts";
import { memoryLogger } from "../../shared/log.ts";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

const REDIRECT = "https://app.example.test/callback";
const AUTH = "default-authentication-flow";
const EXPLICIT = "default-provider-authorization-explicit-consent";
const SCOPE = "openid email profile offline_access";

/** A browser's part, minus the browser: cookies kept per name, redirects seen rather than followed. */
class UserAgent {
  private readonly cookies = new Map<string, string>();

  constructor(private readonly base: string) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await fetch(new URL(path, this.base), { ...init, headers, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq > 0) this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return res;
  }

  // biome-ignore lint/suspicious/noExplicitAny: challenges are arbitrary JSON
  async challenge(slug: string, answer?: Record<string, unknown>): Promise<any> {
    const path = `/api/v3/flows/executor/${slug}/?query=`;
    let res = await this.fetch(
      path,
      answer && {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(answer),
      },
    );
    // After a POST the executor sends the browser back with a GET for the next challenge.
    if (res.status === 302) res = await this.fetch(path);
    expect(res.status, await res.clone().text()).toBe(200);
    return res.json();
  }

  /** Identification, then password, as the default authentication flow asks. */
  async signIn(username: string, password: string): Promise<void> {
    let c = await this.challenge(AUTH);
    expect(c.component).toBe("ak-stage-identification");
    c = await this.challenge(AUTH, { component: c.component, uid_field: username });
    expect(c.component).toBe("ak-stage-password");
    c = await this.challenge(AUTH, { component: c.component, password });
    expect(c.component).toBe("xak-flow-redirect");
  }

  /**
   * Opens the authorization URL and runs the flow it leads to, consenting when asked; the URL the
   * browser would be sent back to, and whether consent was asked.
   */
  async authorize(url: URL): Promise<{ callback: URL; consented: boolean }> {
    const res = await this.fetch(url.href);
    expect(res.status).toBe(302);
    const flow = /^\/if\/flow\/([^/]+)\/$/.exec(res.headers.get("location") ?? "")?.[1];
    expect(flow).toBe(EXPLICIT);
    let c = await this.challenge(EXPLICIT);
    const consented = c.component === "ak-stage-consent";
    if (consented) c = await this.challenge(EXPLICIT, { component: c.component, token: c.token });
    expect(c.component).toBe("xak-flow-redirect");
    return { callback: new URL(c.to), consented };
  }
}

for (const backend of backendNames()) {
  describe(`OIDC code flow through the executor API on ${backend}`, () => {
    let t: TestCore;
    let core: ReturnType<typeof startServer>;
    let base = "";
    let config: oidc.Configuration;
    let agent: UserAgent;

    beforeAll(async () => {
      t = await startTestCore(backend);
      core = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
      base = `http://127.0.0.1:${core.server.port}`;
      const flow = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;
      const key = await t.api("POST", "/api/v3/crypto/certificatekeypairs/generate/", {
        body: { common_name: "notes-signing", validity_days: 30, alg: "ecdsa" },
      });
      const scopes = await t.api(
        "GET",
        "/api/v3/propertymappings/provider/scope/?managed__isnull=false&page_size=50",
      );
      const provider = await t.api("POST", "/api/v3/providers/oauth2/", {
        body: {
          name: "notes",
          authorization_flow: await flow(EXPLICIT),
          invalidation_flow: await flow("default-invalidation-flow"),
          redirect_uris: [{ matching_mode: "strict", url: REDIRECT }],
          signing_key: key.body.pk,
          property_mappings: scopes.body.results.map((s: { pk: string }) => s.pk),
        },
      });
      expect(provider.status, provider.text).toBe(201);
      await t.api("POST", "/api/v3/core/applications/", {
        body: { name: "Notes", slug: "notes", provider: provider.body.pk },
      });
      const user = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "alice", name: "Alice Doe", email: "alice@example.test" },
      });
      await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
        body: { password: "alice-password" },
      });
      config = await oidc.discovery(
        new URL(`${base}/application/o/notes/`),
        provider.body.client_id,
        provider.body.client_secret,
        oidc.ClientSecretBasic(provider.body.client_secret),
        // http in tests; and check the ID token's JWS against the JWKS, not only its claims.
        { execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks] },
      );
      agent = new UserAgent(base);
      await agent.signIn("alice", "alice-password");
    });
    afterAll(async () => {
      await core?.stop();
      await t?.stop();
    });

    /** A fresh authorization request as a relying party makes it, with what it must remember. */
    async function request() {
      const checks = {
        pkceCodeVerifier: oidc.randomPKCECodeVerifier(),
        expectedState: oidc.randomState(),
        expectedNonce: oidc.randomNonce(),
      };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope: SCOPE,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.pkceCodeVerifier),
        code_challenge_method: "S256",
        state: checks.expectedState,
        nonce: checks.expectedNonce,
      });
      return { url, checks };
    }

    async function tokens() {
      const { url, checks } = await request();
      const { callback } = await agent.authorize(url);
      return oidc.authorizationCodeGrant(config, callback, checks);
    }

    test("consent, code, tokens with a verified ID token, and userinfo", async () => {
      const { url, checks } = await request();
      expect(url.origin + url.pathname).toBe(`${base}/application/o/authorize/`);
      const first = await agent.authorize(url);
      expect(first.consented).toBe(true);
      expect(first.callback.origin + first.callback.pathname).toBe(REDIRECT);
      const issued = await oidc.authorizationCodeGrant(config, first.callback, checks);
      expect(issued.token_type).toBe("bearer");
      expect(issued.scope?.split(" ").sort()).toEqual(SCOPE.split(" ").sort());
      expect(issued.refresh_token).toBeTruthy();
      const claims = issued.claims();
      expect(claims).toMatchObject({
        iss: `${base}/application/o/notes/`,
        aud: config.clientMetadata().client_id,
        nonce: checks.expectedNonce,
        email: "alice@example.test",
        preferred_username: "alice",
      });
      const info = await oidc.fetchUserInfo(config, issued.access_token, claims?.sub ?? "");
      expect(info).toMatchObject({
        email: "alice@example.test",
        name: "Alice Doe",
        preferred_username: "alice",
      });

      // The code works once; the consent (mode "expiring") is remembered for the next request.
      await expect(oidc.authorizationCodeGrant(config, first.callback, checks)).rejects.toMatchObject({
        error: "invalid_grant",
      });
      const again = await agent.authorize((await request()).url);
      expect(again.consented).toBe(false);
    });

    test("refresh tokens rotate; reusing an old one kills the whole family", async () => {
      const issued = await tokens();
      const oldest = issued.refresh_token ?? "";
      const rotated = await oidc.refreshTokenGrant(config, oldest);
      expect(rotated.refresh_token).toBeTruthy();
      expect(rotated.refresh_token).not.toBe(oldest);
      expect(rotated.access_token).not.toBe(issued.access_token);
      expect(rotated.claims()?.sub).toBe(issued.claims()?.sub);

      const reused = await oidc.refreshTokenGrant(config, oldest).catch((e: unknown) => e);
      expect(reused).toBeInstanceOf(oidc.ResponseBodyError);
      expect((reused as oidc.ResponseBodyError).error).toBe("invalid_grant");
      await expect(oidc.refreshTokenGrant(config, rotated.refresh_token ?? "")).rejects.toMatchObject({
        error: "invalid_grant",
      });
      expect((await oidc.tokenIntrospection(config, rotated.access_token)).active).toBe(false);
    });

    test("introspection: active with the token's facts until revoked", async () => {
      const issued = await tokens();
      const live = await oidc.tokenIntrospection(config, issued.access_token);
      expect(live).toMatchObject({
        active: true,
        client_id: config.clientMetadata().client_id,
        iss: `${base}/application/o/notes/`,
        sub: issued.claims()?.sub,
      });
      expect(live.scope?.split(" ").sort()).toEqual(SCOPE.split(" ").sort());
      const refresh = await oidc.tokenIntrospection(config, issued.refresh_token ?? "");
      expect(refresh.active).toBe(true);

      await oidc.tokenRevocation(config, issued.access_token);
      expect((await oidc.tokenIntrospection(config, issued.access_token)).active).toBe(false);
      await expect(oidc.fetchUserInfo(config, issued.access_token, oidc.skipSubjectCheck)).rejects.toThrow();
      // Revoking the refresh token ends the grant: it no longer refreshes.
      await oidc.tokenRevocation(config, issued.refresh_token ?? "");
      expect((await oidc.tokenIntrospection(config, issued.refresh_token ?? "")).active).toBe(false);
      await expect(oidc.refreshTokenGrant(config, issued.refresh_token ?? "")).rejects.toMatchObject({
        error: "invalid_grant",
      });
    });

    test("RP-initiated logout: the end-session URL signs the user out and returns with the state", async () => {
      const issued = await tokens();
      const url = oidc.buildEndSessionUrl(config, {
        id_token_hint: issued.id_token ?? "",
        post_logout_redirect_uri: REDIRECT,
        state: "bye",
      });
      expect(url.pathname).toBe("/application/o/notes/end-session/");
      const res = await agent.fetch(url.href);
      expect(res.status).toBe(302);
      const flow = /^\/if\/flow\/([^/]+)\/$/.exec(res.headers.get("location") ?? "")?.[1] ?? "";
      const done = await agent.challenge(flow);
      expect(done.component).toBe("xak-flow-redirect");
      const back = new URL(done.to);
      expect(back.origin + back.pathname).toBe(REDIRECT);
      expect(back.searchParams.get("state")).toBe("bye");
      // The session's tokens are revoked (just after the logout's own request).
      const deadline = Date.now() + 5_000;
      while ((await oidc.tokenIntrospection(config, issued.access_token)).active && Date.now() < deadline)
        await Bun.sleep(20);
      expect((await oidc.tokenIntrospection(config, issued.access_token)).active).toBe(false);
      // Signed out: the next authorization starts with the login flow.
      const next = await agent.fetch((await request()).url.href);
      expect(next.headers.get("location")).toStartWith(`/if/flow/${AUTH}/`);
      await agent.signIn("alice", "alice-password");
    });
  });
}
