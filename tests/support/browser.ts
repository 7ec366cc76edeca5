/**
 * Debian's Chromium through playwright-core. Missing Chromium skips browser tests on a developer
 * machine and fails them when GATEHOUSE_E2E_REQUIRED=1 (CI).
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

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
