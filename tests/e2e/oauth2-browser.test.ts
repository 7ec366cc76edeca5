/**
 * The OIDC authorization code flow in Chromium, end to end: a relying party built on openid-client
 * sends the browser to Gatehouse, the user signs in and consents in the flow UI, and the relying party
 * gets a code it exchanges for a verified ID token and userinfo. Also form_post and a refused user.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { startServer } from "../../core/src/http/server.ts";
import { memoryLogger } from "../../shared/log.ts";
import { launchBrowser, needBrowser } from "../support/browser.ts";
import { startTestCore, type TestCore } from "../support/core.ts";
import { type RelyingParty, startRelyingParty } from "../support/relying-party.ts";

const run = needBrowser();
const EXPLICIT = "default-provider-authorization-explicit-consent";
const IMPLICIT = "default-provider-authorization-implicit-consent";

interface Claims {
  method: string;
  id_token: Record<string, unknown>;
  userinfo: Record<string, unknown>;
}

describe.skipIf(!run)("OIDC authorization code flow in Chromium", () => {
  let t: TestCore;
  let server: ReturnType<typeof startServer>;
  let browser: Browser;
  let base = "";
  const rp: RelyingParty[] = [];
  let wiki: RelyingParty;
  let secret: RelyingParty;

  const flowPk = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;

  /** An OAuth2 provider (ES256, the managed scopes, strict redirect URI) and its application. */
  async function application(slug: string, to: RelyingParty, flow: string) {
    const key = await t.api("POST", "/api/v3/crypto/certificatekeypairs/generate/", {
      body: { common_name: `${slug}-signing`, validity_days: 30, alg: "ecdsa" },
    });
    const scopes = await t.api(
      "GET",
      "/api/v3/propertymappings/provider/scope/?managed__isnull=false&page_size=50",
    );
    const provider = await t.api("POST", "/api/v3/providers/oauth2/", {
      body: {
        name: slug,
        authorization_flow: await flowPk(flow),
        invalidation_flow: await flowPk("default-invalidation-flow"),
        redirect_uris: [{ matching_mode: "strict", url: to.callback }],
        signing_key: key.body.pk,
        property_mappings: scopes.body.results.map((s: { pk: string }) => s.pk),
      },
    });
    expect(provider.status, provider.text).toBe(201);
    const app = await t.api("POST", "/api/v3/core/applications/", {
      body: { name: slug === "wiki" ? "Team Wiki" : "Secret Wiki", slug, provider: provider.body.pk },
    });
    expect(app.status, app.text).toBe(201);
    to.use({
      issuer: `${base}/application/o/${slug}/`,
      client_id: provider.body.client_id,
      client_secret: provider.body.client_secret,
    });
    return app.body;
  }

  beforeAll(async () => {
    t = await startTestCore("sqlite");
    server = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
    base = `http://127.0.0.1:${server.server.port}`;
    wiki = startRelyingParty();
    secret = startRelyingParty();
    rp.push(wiki, secret);
    const user = await t.api("POST", "/api/v3/core/users/", {
      body: { username: "alice", name: "Alice Doe", email: "alice@example.test" },
    });
    await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
      body: { password: "alice-password" },
    });
    await application("wiki", wiki, EXPLICIT);
    const locked = await application("secret-wiki", secret, IMPLICIT);
    const group = await t.api("POST", "/api/v3/core/groups/", { body: { name: "wiki-editors" } });
    const binding = await t.api("POST", "/api/v3/policies/bindings/", {
      body: { target: locked.pk, group: group.body.pk, order: 0 },
    });
    expect(binding.status, binding.text).toBe(201);
    browser = await launchBrowser();
    // Bundle the flow page's script once up front, so no test pays for it.
    await fetch(`${base}/static/dist/flow.js`);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    for (const r of rp) await r.stop();
    await server?.stop();
    await t?.stop();
  });

  /** Every request this page makes, as "METHOD url" with the form body of a POST. */
  function requests(page: Page): { line: string; body: string }[] {
    const seen: { line: string; body: string }[] = [];
    page.on("request", (r) => seen.push({ line: `${r.method()} ${r.url()}`, body: r.postData() ?? "" }));
    return seen;
  }

  async function signIn(page: Page, username: string, password: string) {
    await page.waitForURL(/\/if\/flow\/default-authentication-flow\/\?next=/);
    await page.getByLabel("Email or Username").fill(username);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Continue" }).click();
  }

  async function claimsShown(page: Page): Promise<Claims> {
    await page.waitForURL(`${wiki.callback}**`);
    const error = page.getByTestId("error");
    if (await error.isVisible()) throw new Error(`relying party: ${await error.textContent()}`);
    return JSON.parse((await page.getByTestId("claims").textContent()) ?? "{}") as Claims;
  }

  test("sign in, consent, back at the app with a verified ID token and userinfo; then no questions", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${wiki.url}/login`);
    await signIn(page, "alice", "alice-password");

    await page.waitForURL(`${base}/if/flow/${EXPLICIT}/`);
    // The flow's title "Redirecting to %(app)s" names the application, as authentik formats it.
    await page.getByRole("heading", { name: "Redirecting to Team Wiki" }).waitFor();
    expect(await page.title()).toBe("Redirecting to Team Wiki");
    await expect(page.getByTestId("consent-header").textContent()).resolves.toBe(
      "You're about to sign into Team Wiki.",
    );
    const asked = page.getByTestId("permissions").locator("li");
    await expect(
      asked.evaluateAll((li) => li.map((l) => l.getAttribute("data-permission-code"))),
    ).resolves.toEqual(expect.arrayContaining(["email", "profile"]));
    await expect(asked.allTextContents()).resolves.toContain("Email address");
    await page.getByRole("button", { name: "Continue" }).click();

    const first = await claimsShown(page);
    expect(first.method).toBe("GET");
    expect(first.userinfo).toMatchObject({
      email: "alice@example.test",
      preferred_username: "alice",
      name: "Alice Doe",
    });
    // openid-client checked the signature, issuer, audience, nonce and at_hash before showing these.
    expect(first.id_token).toMatchObject({
      iss: `${base}/application/o/wiki/`,
      sub: first.userinfo.sub,
      email: "alice@example.test",
    });
    expect(typeof first.id_token.nonce).toBe("string");

    // The Gatehouse session is reused and the consent (mode "expiring") remembered: straight back.
    const again = await context.newPage();
    const seen = requests(again);
    await again.goto(`${wiki.url}/login`);
    const second = await claimsShown(again);
    expect(second.userinfo.sub).toBe(first.userinfo.sub);
    expect(second.id_token.nonce).not.toBe(first.id_token.nonce);
    const executor = seen.filter((r) => r.line.includes(`/api/v3/flows/executor/${EXPLICIT}/`));
    expect(executor.map((r) => r.line.split(" ")[0])).toEqual(["GET"]);
    await context.close();
  }, 60_000);

  test("response_mode=form_post: after consent the flow page posts the code to the app's callback", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = requests(page);
    // prompt=consent asks again even if an earlier test's consent is remembered.
    await page.goto(`${wiki.url}/login?response_mode=form_post&prompt=consent`);
    await signIn(page, "alice", "alice-password");
    await page.waitForURL(`${base}/if/flow/${EXPLICIT}/`);
    await page.getByTestId("consent-header").waitFor();
    await page.getByRole("button", { name: "Continue" }).click();
    const posted = await claimsShown(page);
    expect(posted.method).toBe("POST");
    expect(posted.userinfo).toMatchObject({ preferred_username: "alice", email: "alice@example.test" });
    const post = seen.find((r) => r.line === `POST ${wiki.callback}`);
    const form = new URLSearchParams(post?.body);
    expect(form.get("code")).toBeTruthy();
    expect(form.get("state")).toBeTruthy();
    await context.close();
  }, 60_000);

  test("an application bound to a group the user is not in shows access denied", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${secret.url}/login`);
    await signIn(page, "alice", "alice-password");
    await page.waitForURL(`${base}/if/flow/${IMPLICIT}/`);
    await expect(page.getByRole("alert").textContent()).resolves.toBe("Access denied.");
    await expect(page.getByRole("heading").textContent()).resolves.toBe("Redirecting to Secret Wiki");
    await expect(page.getByRole("button", { name: "Start again" }).isVisible()).resolves.toBe(true);
    expect(page.url().startsWith(secret.url)).toBe(false);
    await context.close();
  }, 60_000);
});
