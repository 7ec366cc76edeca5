/**
 * Debian's Chromium through playwright-core. Missing Chromium skips browser tests on a developer
 * machine and fails them when GATEHOUSE_E2E_REQUIRED=1 (CI).
 */
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const browserAvailable = existsSync(CHROMIUM);
export const e2eRequired = process.env.GATEHOUSE_E2E_REQUIRED === "1";

/** True when browser tests should run; throws when they must run but cannot. */
export function needBrowser(): boolean {
  if (browserAvailable) return true;
  if (e2eRequired)
    throw new Error(`GATEHOUSE_E2E_REQUIRED=1 but ${CHROMIUM} is missing (apt-get install chromium)`);
  console.warn(`skipping browser tests: ${CHROMIUM} not found (apt-get install chromium)`);
  return false;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/** Resolves once `page` is on the core's login page (the default authentication flow). */
export function onLoginPage(page: Page, coreUrl: string): Promise<void> {
  return page.waitForURL((url) => url.href.startsWith(`${coreUrl}/if/flow/default-authentication-flow/`));
}

/** Waits for the core's login page and signs in there: the identification stage, then the password. */
export async function signInOnPage(
  page: Page,
  coreUrl: string,
  user: { username: string; password: string },
) {
  await onLoginPage(page, coreUrl);
  await page.getByLabel("Email or Username").fill(user.username);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Continue" }).click();
}

/** The JSON the page shows (the echo upstream's /headers). */
export async function shownJson<T>(page: Page): Promise<T> {
  return JSON.parse((await page.locator("body").textContent()) ?? "") as T;
}
