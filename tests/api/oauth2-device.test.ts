/**
 * The device authorization grant (RFC 8628): a device asks for codes at /application/o/device/, the
 * user enters the user code at /device (signed in through the executor as a headless client would),
 * runs the provider's authorization flow, and the device's polls turn into tokens — once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import { housekeeping } from "../../core/src/worker.ts";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";
import {
  EXPLICIT_CONSENT,
  flowPk,
  managedScopes,
  type OAuth2Client,
  oauth2Application,
  userWithPassword,
} from "../support/oauth2.ts";

const AUTH = "default-authentication-flow";
const EXPLICIT = EXPLICIT_CONSENT;
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

type Client = OAuth2Client;

// biome-ignore lint/suspicious/noExplicitAny: OAuth answers are arbitrary JSON
type Json = any;

for (const backend of backendNames()) {
  describe(`OAuth2 device authorization on ${backend}`, () => {
    let t: TestCore;
    let now = Date.now();
    let tv: Client;
    let printer: Client;
    let vault: Client;
    let scopePks: string[] = [];
    const handle = (r: Request) => t.core.app.handle(r);

    const makeApp = (slug: string, extra: Record<string, unknown> = {}) =>
      oauth2Application(t, slug, { property_mappings: scopePks, ...extra });
    const makeUser = (username: string) => userWithPassword(t, username);

    beforeAll(async () => {
      t = await startTestCore(backend, {}, () => new Date(now));
      scopePks = await managedScopes(t);
      await makeUser("alice");
      await makeUser("bob");
      tv = await makeApp("tv", { client_type: "public", authorization_flow: await flowPk(t, EXPLICIT) });
      printer = await makeApp("printer");
      vault = await makeApp("vault", { client_type: "public" });
      const group = await t.api("POST", "/api/v3/core/groups/", { body: { name: "vault-keepers" } });
      const vaultApp = (await t.api("GET", "/api/v3/core/applications/vault/")).body;
      const binding = await t.api("POST", "/api/v3/policies/bindings/", {
        body: { target: vaultApp.pk, group: group.body.pk, order: 0 },
      });
      expect(binding.status, binding.text).toBe(201);
    });
    afterAll(() => t.stop());

    const post = (path: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
      handle(
        new Request(`http://localhost${path}`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
          body: new URLSearchParams(body).toString(),
        }),
      ).then(async (r) => ({ status: r.status, headers: r.headers, body: (await r.json()) as Json }));

    const deviceRequest = (client: Client, scope = "openid profile email offline_access") =>
      post("/application/o/device/", { client_id: client.client_id, scope });
    const poll = (client: Client, deviceCode: string, extra: Record<string, string> = {}) =>
      post("/application/o/token/", {
        grant_type: DEVICE_GRANT,
        device_code: deviceCode,
        client_id: client.client_id,
        ...extra,
      });
    const later = (seconds: number) => {
      now += seconds * 1000;
    };

    async function signedIn(username = "alice"): Promise<FlowClient> {
      const c = new FlowClient(handle);
      const done = await c.login(AUTH, username, `${username}-password`);
      expect(done.component).toBe("xak-flow-redirect");
      return c;
    }

    const withCookie = (c: FlowClient, extra: Record<string, string> = {}) => ({
      ...(c.cookie && { cookie: `authentik_session=${c.cookie}` }),
      ...extra,
    });

    /** The /device page for this browser: its status, HTML and form token. */
    async function devicePage(c: FlowClient, query = "") {
      const res = await handle(new Request(`http://localhost/device${query}`, { headers: withCookie(c) }));
      const html = await res.text();
      return { res, html, csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "" };
    }

    /** Types a code into /device; the answer as status, location and HTML. */
    async function enterCode(c: FlowClient, code: string, headers: Record<string, string> = {}) {
      const { csrf } = await devicePage(c);
      const res = await handle(
        new Request("http://localhost/device", {
          method: "POST",
          headers: withCookie(c, {
            "content-type": "application/x-www-form-urlencoded",
            origin: "http://localhost",
            ...headers,
          }),
          body: new URLSearchParams({ code, csrf }).toString(),
        }),
      );
      return { status: res.status, location: res.headers.get("location") ?? "", html: await res.text() };
    }

    /** Enters the code and runs the flow it leads to; the flow's first challenge. */
    async function approve(c: FlowClient, code: string): Promise<Json> {
      const entered = await enterCode(c, code);
      expect(entered.status, entered.html).toBe(303);
      const slug = /^\/if\/flow\/([^/]+)\/$/.exec(entered.location)?.[1];
      expect(slug).toBeTruthy();
      return c.get(slug as string);
    }

    const jwks = async (slug: string) =>
      createLocalJWKSet(
        (await (
          await handle(new Request(`http://localhost/application/o/${slug}/jwks/`))
        ).json()) as JSONWebKeySet,
      );

    test("discovery lists the device authorization endpoint and grant", async () => {
      const res = await t.api("GET", "/application/o/tv/.well-known/openid-configuration");
      expect(res.body.device_authorization_endpoint).toBe("http://localhost/application/o/device/");
      expect(res.body.grant_types_supported).toContain(DEVICE_GRANT);
    });

    test("the whole grant: codes, pending, the user enters the code and consents, tokens once", async () => {
      const started = await deviceRequest(tv, "openid profile email offline_access no-such-scope");
      expect(started.status, JSON.stringify(started.body)).toBe(200);
      expect(started.headers.get("cache-control")).toBe("no-store");
      const { device_code, user_code } = started.body;
      expect(user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
      expect(started.body).toMatchObject({
        verification_uri: "http://localhost/device",
        verification_uri_complete: `http://localhost/device?code=${user_code}`,
        expires_in: 600,
        interval: 5,
      });
      expect(device_code.length).toBeGreaterThan(30);
      expect((await poll(tv, device_code)).body.error).toBe("authorization_pending");

      // Signed out: /device sends the browser to sign in and back, code and all.
      const c = new FlowClient(handle);
      const out = await handle(new Request(`http://localhost/device?code=${user_code}`));
      expect(out.status).toBe(303);
      const location = new URL(out.headers.get("location") ?? "", "http://localhost");
      expect(location.pathname).toBe(`/if/flow/${AUTH}/`);
      const next = location.searchParams.get("next") ?? "";
      expect(next).toBe(`/device?code=${user_code}`);
      const done = await c.login(AUTH, "alice", "alice-password", `next=${encodeURIComponent(next)}`);
      expect(done.to).toBe(next);
      const page = await devicePage(c, `?code=${user_code}`);
      expect(page.res.status).toBe(200);
      expect(page.res.headers.get("content-security-policy")).toContain("form-action 'self'");
      expect(page.html).toContain(`value="${user_code}"`);

      // Lower case and without the dash is the same code.
      const consent = await approve(c, user_code.replace("-", "").toLowerCase());
      expect(consent.component).toBe("ak-stage-consent");
      expect(consent.header_text).toContain("tv");
      expect(consent.permissions.map((p: { id: string }) => p.id)).toEqual(
        expect.arrayContaining(["email", "profile"]),
      );
      later(5);
      expect((await poll(tv, device_code)).body.error).toBe("authorization_pending");
      const finished = await c.post(EXPLICIT, { component: "ak-stage-consent", token: consent.token });
      expect(finished.component).toBe("ak-provider-oauth2-device-code-finish");

      later(5);
      const tokens = await poll(tv, device_code);
      expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
      expect(tokens.body.token_type).toBe("Bearer");
      expect(tokens.body.scope.split(" ").sort()).toEqual(["email", "offline_access", "openid", "profile"]);
      expect(typeof tokens.body.refresh_token).toBe("string");
      const { payload } = await jwtVerify(tokens.body.id_token, await jwks("tv"), {
        issuer: "http://localhost/application/o/tv/",
        audience: tv.client_id,
      });
      expect(payload).toMatchObject({ email: "alice@example.test", preferred_username: "alice" });
      expect(typeof payload.sid).toBe("string");
      expect(typeof payload.auth_time).toBe("number");
      // How the approving user signed in (a password) reaches the device's ID token, as in the code flow.
      expect(payload.amr).toEqual(["pwd"]);
      const info = await handle(
        new Request("http://localhost/application/o/userinfo/", {
          headers: { authorization: `Bearer ${tokens.body.access_token}` },
        }),
      );
      expect(((await info.json()) as Json).preferred_username).toBe("alice");

      // Single use: the device code is spent, and the user code is no longer accepted.
      later(5);
      const again = await poll(tv, device_code);
      expect(again.status).toBe(400);
      expect(again.body.error).toBe("invalid_grant");
      const reused = await enterCode(c, user_code);
      expect(reused.status).toBe(400);
      expect(reused.html).toContain("not valid");
    });

    test("polling faster than the interval is slow_down", async () => {
      const { device_code } = (await deviceRequest(tv)).body;
      expect((await poll(tv, device_code)).body.error).toBe("authorization_pending");
      const fast = await poll(tv, device_code);
      expect(fast.status).toBe(400);
      expect(fast.body.error).toBe("slow_down");
      later(5);
      expect((await poll(tv, device_code)).body.error).toBe("authorization_pending");
    });

    test("an expired device code is expired_token, and the user is told at /device", async () => {
      const { device_code, user_code } = (await deviceRequest(tv)).body;
      later(601);
      const res = await poll(tv, device_code);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("expired_token");
      const entered = await enterCode(await signedIn(), user_code);
      expect(entered.status).toBe(400);
      expect(entered.html).toContain("expired");

      await housekeeping(t.core.ctx);
      expect((await poll(tv, device_code)).body.error).toBe("invalid_grant");
    });

    test("an application the user may not use: access denied, and the device gets access_denied", async () => {
      const { device_code, user_code } = (await deviceRequest(vault, "openid")).body;
      const denied = await approve(await signedIn(), user_code);
      expect(denied.component).toBe("ak-stage-access-denied");
      const res = await poll(vault, device_code);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("access_denied");
    });

    test("a device code works only for its client; confidential clients authenticate", async () => {
      const { device_code, user_code } = (await deviceRequest(tv, "openid")).body;
      // Alice consented to tv before (the whole-grant test): remembered, so no question this time.
      const done = await approve(await signedIn(), user_code);
      expect(done.component).toBe("ak-provider-oauth2-device-code-finish");
      const wrong = await poll(printer, device_code, { client_secret: printer.client_secret });
      expect(wrong.status).toBe(400);
      expect(wrong.body.error).toBe("invalid_grant");

      const noSecret = await post("/application/o/device/", { client_id: printer.client_id });
      expect(noSecret.status).toBe(401);
      expect(noSecret.body.error).toBe("invalid_client");
      const unknown = await post("/application/o/device/", { client_id: "nobody" });
      expect(unknown.body.error).toBe("invalid_client");
      const basic = Buffer.from(`${printer.client_id}:${printer.client_secret}`).toString("base64");
      const ok = await post(
        "/application/o/device/",
        { scope: "openid" },
        { authorization: `Basic ${basic}` },
      );
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      const c = await signedIn();
      expect((await approve(c, ok.body.user_code)).component).toBe("ak-provider-oauth2-device-code-finish");
      later(5);
      const tokens = await poll(printer, ok.body.device_code, { client_secret: printer.client_secret });
      expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
      expect(tokens.body.refresh_token).toBeUndefined();
    });

    test("wrong codes get a clear message, and too many are refused", async () => {
      const c = await signedIn("bob");
      const typo = await enterCode(c, "BCDF-GHJK");
      expect(typo.status).toBe(400);
      expect(typo.html).toContain("This code is not valid");
      const nonsense = await enterCode(c, "<script>");
      expect(nonsense.status).toBe(400);
      expect(nonsense.html).not.toContain("<script>");
      for (let i = 0; i < 3; i++) expect((await enterCode(c, "BCDF-GHJK")).status).toBe(400);
      const { user_code } = (await deviceRequest(tv)).body;
      const limited = await enterCode(c, user_code);
      expect(limited.status).toBe(429);
      expect(limited.html).toContain("Too many wrong codes");
      // Someone else is not affected.
      expect((await enterCode(await signedIn(), user_code)).status).toBe(303);
    });

    test("the form needs its token and a same-origin post", async () => {
      const { user_code } = (await deviceRequest(tv)).body;
      const c = await signedIn();
      const crossSite = await enterCode(c, user_code, { origin: "https://evil.example" });
      expect(crossSite.status).toBe(403);
      const fetchSite = await enterCode(c, user_code, { "sec-fetch-site": "cross-site" });
      expect(fetchSite.status).toBe(403);
      const other = await signedIn();
      const { csrf } = await devicePage(other);
      const stolen = await handle(
        new Request("http://localhost/device", {
          method: "POST",
          headers: withCookie(c, { "content-type": "application/x-www-form-urlencoded" }),
          body: new URLSearchParams({ code: user_code, csrf }).toString(),
        }),
      );
      expect(stolen.status).toBe(403);
    });
  });
}
