/**
 * The printed setup link, used the way an operator does: opened in Chromium, form filled in and sent.
 * (A browser sends the Origin the page's referrer policy allows, which a plain fetch cannot show.)
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Browser } from "playwright-core";
import { launchBrowser, needBrowser } from "../support/browser.ts";
import { type CoreProcess, disposeAll, Install, PROCESS_TIMEOUT_MS } from "../support/process.ts";

setDefaultTimeout(PROCESS_TIMEOUT_MS);
afterAll(disposeAll);

describe.skipIf(!needBrowser())("setup link in Chromium", () => {
  let install: Install;
  let core: CoreProcess;
  let browser: Browser;
  beforeAll(async () => {
    install = await Install.create("sqlite");
    core = await install.start();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await install?.dispose();
  });

  test("opening the link and sending the form sets akadmin's password", async () => {
    const link = (await core.waitForLine(/^\s*(http:\/\/\S+\/setup\/\?token=\S+)$/))[1] ?? "";
    const page = await browser.newPage();
    try {
      await page.goto(link);
      await page.fill('input[name="password"]', "browser-set-password-1");
      await page.fill('input[name="password_repeat"]', "browser-set-password-1");
      const [answer] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith("/setup/")),
        page.click('button[type="submit"]'),
      ]);
      expect(answer.status()).toBe(200);
      expect(await answer.text()).toContain("Password set");
    } finally {
      await page.close();
    }
    const hash = await install.passwordHash("akadmin");
    expect(await Bun.password.verify("browser-set-password-1", hash ?? "")).toBe(true);
  });
});
