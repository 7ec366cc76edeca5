/**
 * RP-initiated logout in Chromium: the browser goes to an application's end-session endpoint, the
 * flow page loads the front-channel clients' logout URLs in iframes and returns to the client with its
 * state; with the provider invalidation flow the user sees that they left the one application.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { startServer } from "../../core/src/http/server.ts";
import { memoryLogger } from "../../shared/log.ts";
import { launchBrowser, needBrowser } from "../support/browser.ts";
import { startTestCore, type TestCore } from "../support/core.ts";

const run = needBrowser();
const IMPLICIT = "default-provider-authorization-implicit-consent";

interface Client {
  client_id: string;
  client_secret: string;
}

describe.skipIf(!run)("OIDC logout in Chromium", () => {
  let t: TestCore;
  let server: ReturnType<typeof startServer>;
  let browser: Browser;
  let base = "";
  let rpBase = "";
  let rp: ReturnType<typeof Bun.serve>;
  const frontchannel: URLSearchParams[] = [];
  let portal: Client;
  let notes: Client;

  const flowPk = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;

  async function application(slug: string, name: string, extra: Record<string, unknown>): Promise<Client> {
    const key = await t.api("POST", "/api/v3/crypto/certificatekeypairs/generate/", {
      body: { common_name: `${slug}-signing`, validity_days: 30, alg: "ecdsa" },
    });
    const provider = await t.api("POST", "/api/v3/providers/oauth2/", {
      body: {
        name: slug,
        authorization_flow: await flowPk(IMPLICIT),
        invalidation_flow: await flowPk("default-invalidation-flow"),
        redirect_uris: [
          { matching_mode: "strict", url: `${rpBase}/cb` },
          { matching_mode: "strict", url: `${rpBase}/logged-out` },
        ],
        signing_key: key.body.pk,
        ...extra,
      },
    });
    expect(provider.status, provider.text).toBe(201);
    const app = await t.api("POST", "/api/v3/core/applications/", {
      body: { name, slug, provider: provider.body.pk },
    });
    expect(app.status, app.text).toBe(201);
    return provider.body;
  }

  beforeAll(async () => {
    rp = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(req) {
        const url = new URL(req.url);
        if (url.pathname === "/fc-logout") frontchannel.push(url.searchParams);
        return new Response(`<!doctype html><title>${url.pathname}</title><p>${url.pathname}</p>`, {
          headers: { "content-type": "text/html" },
        });
      },
    });
    rpBase = `http://127.0.0.1:${rp.port}`;
    t = await startTestCore("sqlite");
    server = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
    base = `http://127.0.0.1:${server.server.port}`;
    const user = await t.api("POST", "/api/v3/core/users/", {
      body: { username: "alice", name: "Alice Doe", email: "alice@example.test" },
    });
    await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
      body: { password: "alice-password" },
    });
    portal = await application("portal", "Portal", {
      logout_method: "frontchannel",
      logout_uri: `${rpBase}/fc-logout`,
    });
    notes = await application("notes", "Notes", {
      invalidation_flow: await flowPk("default-provider-invalidation-flow"),
    });
    browser = await launchBrowser();
    await fetch(`${base}/static/dist/flow.js`);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await t?.stop();
    await rp?.stop(true);
  });

  /** Signs in through the flow UI on the way to `client`, and exchanges the code: the ID token. */
  async function signInTo(page: Page, client: Client, signIn: boolean): Promise<string> {
    const q = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: `${rpBase}/cb`,
      response_type: "code",
      scope: "openid",
      state: "in",
      nonce: "n",
    });
    await page.goto(`${base}/application/o/authorize/?${q}`);
    if (signIn) {
      await page.waitForURL(/\/if\/flow\/default-authentication-flow\/\?next=/);
      await page.getByLabel("Email or Username").fill("alice");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByLabel("Password").fill("alice-password");
      await page.getByRole("button", { name: "Continue" }).click();
    }
    await page.waitForURL(`${rpBase}/cb?**`);
    const code = new URL(page.url()).searchParams.get("code") ?? "";
    const res = await fetch(`${base}/application/o/token/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: `${rpBase}/cb`,
        client_id: client.client_id,
        client_secret: client.client_secret,
      }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { id_token: string }).id_token;
  }

  test("end-session: the front-channel client's iframe loads, then back to the client with state", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const idToken = await signInTo(page, portal, true);
    const q = new URLSearchParams({
      id_token_hint: idToken,
      post_logout_redirect_uri: `${rpBase}/logged-out`,
      state: "bye",
    });
    await page.goto(`${base}/application/o/portal/end-session/?${q}`);
    await page.waitForURL(`${rpBase}/logged-out?state=bye`);
    const sid = JSON.parse(Buffer.from(idToken.split(".")[1] ?? "", "base64url").toString()).sid;
    expect(
      frontchannel.some((p) => p.get("sid") === sid && p.get("iss") === `${base}/application/o/portal/`),
    ).toBe(true);
    // Signed out of Gatehouse as well (default-invalidation-flow has a user-logout stage).
    await signInTo(page, portal, true);
    await context.close();
  }, 60_000);

  test("the provider invalidation flow shows that the user left the one application", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInTo(page, notes, true);
    await page.goto(`${base}/application/o/notes/end-session/`);
    await page.getByTestId("session-end").waitFor();
    await expect(page.getByTestId("session-end").textContent()).resolves.toBe("You've logged out of Notes.");
    await expect(page.getByRole("heading").textContent()).resolves.toBe("You've logged out of Notes.");
    await expect(page.getByRole("link", { name: "Log out of Gatehouse" }).getAttribute("href")).resolves.toBe(
      "/if/flow/default-invalidation-flow/",
    );
    // Still signed in to Gatehouse: the next authorization needs no login.
    await signInTo(page, notes, false);
    await context.close();
  }, 60_000);
});
