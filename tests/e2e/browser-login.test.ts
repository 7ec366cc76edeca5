import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { totpCode } from "../../core/src/authenticators/devices.ts";
import { startServer } from "../../core/src/http/server.ts";
import { memoryLogger } from "../../shared/log.ts";
import { launchBrowser, needBrowser } from "../support/browser.ts";
import { startTestCore, type TestCore } from "../support/core.ts";
import { linkIn, startSmtp } from "../support/smtp.ts";

const run = needBrowser();

describe.skipIf(!run)("browser login in Chromium", () => {
  let t: TestCore;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let server: ReturnType<typeof startServer>;
  let browser: Browser;
  let base = "";
  // The core's clock runs ahead in whole TOTP steps when a test needs a fresh code.
  let offsetMs = 0;
  const clock = () => new Date(Date.now() + offsetMs);

  beforeAll(async () => {
    smtp = await startSmtp();
    t = await startTestCore("sqlite", { "email.host": "127.0.0.1", "email.port": smtp.port }, clock);
    server = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
    base = `http://127.0.0.1:${server.server.port}`;
    const user = await t.api("POST", "/api/v3/core/users/", {
      body: { username: "mia", name: "Mia Wong", email: "mia@example.com" },
    });
    await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
      body: { password: "mia-password-1" },
    });
    browser = await launchBrowser();
    // Bundle the page scripts once up front, so no test pays for it.
    await fetch(`${base}/static/dist/flow.js`);
    await fetch(`${base}/static/dist/user.js`);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await t?.stop();
    await smtp?.stop();
  });

  async function signIn(page: Page, username: string, password: string) {
    await page.goto(`${base}/`);
    await page.waitForURL(/\/if\/flow\/default-authentication-flow\//);
    await page.getByLabel("Email or Username").fill(username);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Continue" }).click();
  }

  test("akadmin signs in with a password and lands on the user page", async () => {
    await t.api("POST", "/api/v3/core/applications/", {
      body: { name: "Team Wiki", slug: "team-wiki", meta_launch_url: "https://wiki.example.test/" },
    });
    const page = await browser.newPage();
    await signIn(page, "akadmin", "akadmin-password");
    await page.waitForURL(`${base}/if/user/`);
    await expect(page.getByTestId("username").textContent()).resolves.toBe("akadmin");
    expect(await page.title()).toBe("Gatehouse");
    await expect(page.getByRole("link", { name: "Team Wiki" }).getAttribute("href")).resolves.toBe(
      "https://wiki.example.test/",
    );
    await page.close();
  }, 60_000);

  test("the application library searches by name, description and group", async () => {
    const apps: [string, string, string][] = [
      ["Payroll", "Finance", "Salaries"],
      ["Ledger", "Finance", "Books"],
      ["Grafana", "Ops", "Dashboards"],
      ["Pager", "Ops", "On-call"],
      ["Chat", "", "Team chat"],
      ["Calendar", "", "Meetings"],
    ];
    for (const [name, group, description] of apps)
      await t.api("POST", "/api/v3/core/applications/", {
        body: {
          name,
          slug: name.toLowerCase(),
          group,
          meta_description: description,
          meta_launch_url: `https://${name.toLowerCase()}.example.test/`,
        },
      });
    const page = await browser.newPage();
    await signIn(page, "akadmin", "akadmin-password");
    await page.waitForURL(`${base}/if/user/`);
    const names = async () =>
      (await page.getByTestId("applications").getByRole("link").allTextContents()).sort();
    await page.getByTestId("app-search").fill("finance");
    await page.getByRole("link", { name: "Payroll" }).waitFor();
    await expect(names()).resolves.toEqual(["Ledger", "Payroll"]);
    await page.getByTestId("app-search").fill("dashboards");
    await page.getByRole("link", { name: "Payroll" }).waitFor({ state: "detached" });
    await expect(names()).resolves.toEqual(["Grafana"]);
    await page.close();
  }, 60_000);

  test("a wrong password shows an error and records login_failed", async () => {
    const page = await browser.newPage();
    await signIn(page, "mia", "not-her-password");
    await expect(page.getByRole("alert").textContent()).resolves.toContain("Invalid password");
    const events = await t.api("GET", "/api/v3/events/events/?action=login_failed&username=mia");
    expect(events.body.pagination.count).toBeGreaterThanOrEqual(1);
    expect(events.body.results[0].client_ip).toBe("127.0.0.1");
    await page.close();
  }, 60_000);

  test("enrol TOTP from the user page, then sign in with password and code", async () => {
    const page = await browser.newPage();
    await signIn(page, "mia", "mia-password-1");
    await page.waitForURL(`${base}/if/user/`);
    await page.getByRole("link", { name: "Add an authenticator app" }).click();
    const secret = (await page.getByTestId("totp-secret").textContent()) ?? "";
    expect(secret).toMatch(/^[A-Z2-7]+$/);
    await expect(
      page.getByRole("img", { name: "QR code for your authenticator app" }).isVisible(),
    ).resolves.toBe(true);
    await page.getByLabel("Code", { exact: true }).fill(totpCode(secret, clock()));
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(`${base}/if/user/`);
    await page.getByText("TOTP Device").first().waitFor();

    await page.getByRole("link", { name: "Sign out" }).click();
    await page.waitForURL(/\/if\/flow\/default-authentication-flow\//);
    // A new time step, so the code differs from the one used to enrol.
    offsetMs += 30_000;
    await page.getByLabel("Email or Username").fill("mia");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByLabel("Password").fill("mia-password-1");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByLabel("Authentication code").fill(totpCode(secret, clock()));
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(`${base}/if/user/`);
    await expect(page.getByTestId("username").textContent()).resolves.toBe("mia");
    const login = await t.api("GET", "/api/v3/events/events/?action=login&username=mia&ordering=-created");
    expect(login.body.results[0].context.auth_method).toBe("auth_mfa");
    await page.close();
  }, 60_000);

  test("sign out everywhere ends every session of the user", async () => {
    const first = await browser.newContext();
    const second = await browser.newContext();
    const [a, b] = [await first.newPage(), await second.newPage()];
    await signIn(a, "akadmin", "akadmin-password");
    await a.waitForURL(`${base}/if/user/`);
    await signIn(b, "akadmin", "akadmin-password");
    await b.waitForURL(`${base}/if/user/`);
    await a.getByRole("button", { name: "Sign out everywhere" }).click();
    await a.waitForURL(/\/if\/flow\/default-authentication-flow\//);
    await b.goto(`${base}/if/user/`);
    await b.waitForURL(/\/if\/flow\/default-authentication-flow\//);
    await first.close();
    await second.close();
  }, 60_000);

  test("recover a password through the emailed link", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/if/flow/default-recovery-flow/`);
    await page.getByLabel("Email or Username").fill("mia@example.com");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect(page.getByRole("status").textContent()).resolves.toContain("Check your email");
    const mail = smtp.mails.at(-1);
    expect(mail?.to).toEqual(["mia@example.com"]);
    const link = linkIn(mail!, "/if/flow/default-recovery-flow/");
    // The link opens in a fresh browser context, as from a mail client.
    const other = await browser.newContext();
    const tab = await other.newPage();
    await tab.goto(`${base}${link.pathname}${link.search}`);
    await tab.getByLabel("Password", { exact: true }).fill("Fresh-Lantern-42");
    await tab.getByLabel("Password (repeat)").fill("Fresh-Lantern-42");
    await tab.getByRole("button", { name: "Continue" }).click();
    await tab.waitForURL(`${base}/if/user/`);
    await expect(tab.getByTestId("username").textContent()).resolves.toBe("mia");
    await other.close();
    await page.close();
  }, 60_000);

  test("enrol a new user through the enrollment flow with an invitation", async () => {
    const invite = await t.api("POST", "/api/v3/stages/invitation/invitations/", {
      body: { name: "browser-invite", single_use: true },
    });
    const page = await browser.newPage();
    await page.goto(`${base}/if/flow/default-enrollment-flow/?itoken=${invite.body.pk}`);
    await page.getByLabel("Username").fill("quinn");
    await page.getByLabel("Name", { exact: true }).fill("Quinn Avery");
    await page.getByLabel("Email").fill("quinn@example.com");
    await page.getByLabel("Password", { exact: true }).fill("Quiet-Meadow-81");
    await page.getByLabel("Password (repeat)").fill("Quiet-Meadow-81");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(`${base}/if/user/`);
    await expect(page.getByTestId("username").textContent()).resolves.toBe("quinn");
    await page.close();
  }, 60_000);

  test("register a passkey, then sign in with password and the passkey", async () => {
    const rae = await t.api("POST", "/api/v3/core/users/", { body: { username: "rae", name: "Rae" } });
    await t.api("POST", `/api/v3/core/users/${rae.body.pk}/set_password/`, {
      body: { password: "rae-password-1" },
    });
    // WebAuthn needs a name, not an address, as the relying party: localhost on the same port.
    const local = base.replace("127.0.0.1", "localhost");
    const context = await browser.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    const login = async () => {
      await page.goto(`${local}/`);
      await page.getByLabel("Email or Username").fill("rae");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByLabel("Password").fill("rae-password-1");
      await page.getByRole("button", { name: "Continue" }).click();
    };
    await login();
    await page.waitForURL(`${local}/if/user/`);
    await page.getByRole("link", { name: "Add a security key or passkey" }).click();
    await page.getByRole("button", { name: "Register" }).click();
    await page.waitForURL(`${local}/if/user/`);
    await page.getByText("WebAuthn Device").first().waitFor();

    await page.getByRole("link", { name: "Sign out" }).click();
    await page.waitForURL(/\/if\/flow\/default-authentication-flow\//);
    await login();
    await page.getByRole("button", { name: "Use a security key or passkey" }).click();
    await page.waitForURL(`${local}/if/user/`);
    await expect(page.getByTestId("username").textContent()).resolves.toBe("rae");
    const events = await t.api("GET", "/api/v3/events/events/?action=login&username=rae&ordering=-created");
    expect(events.body.results[0].context.auth_method).toBe("auth_mfa");
    await context.close();
  }, 60_000);
});
