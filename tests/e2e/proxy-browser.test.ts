/**
 * Chromium through the compiled proxy outpost in proxy mode: the app at http://app.localhost:PORT
 * (Chromium resolves *.localhost to loopback) sends the browser to Gatehouse's login page; after signing
 * in it lands on the echo upstream's /headers, which shows the X-authentik-* headers the outpost set.
 * /outpost.goauthentik.io/sign_out ends the session, and the app asks for a login again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, needBrowser, onLoginPage, shownJson, signInOnPage } from "../support/browser.ts";
import { freePort, PROCESS_TIMEOUT_MS } from "../support/process.ts";
import { ALICE, ProxyFixture } from "../support/proxy-outpost.ts";
import type { SeenRequest } from "../support/upstream.ts";
import { startUpstream, type Upstream } from "../support/upstream.ts";

const run = needBrowser();

describe.skipIf(!run)("Chromium through the compiled proxy outpost (proxy mode)", () => {
  let fx: ProxyFixture;
  let upstream: Upstream;
  let browser: Browser;
  let app = "";

  beforeAll(async () => {
    fx = await ProxyFixture.start();
    upstream = await startUpstream();
    const port = await freePort();
    app = `http://app.localhost:${port}`;
    const provider = await fx.provider("app", {
      mode: "proxy",
      external_host: app,
      internal_host: upstream.url,
    });
    await fx.serve([provider.pk]);
    await fx.startOutpost(port);
    browser = await launchBrowser();
    // Bundle the flow page's script once up front, so no step waits for it.
    await fetch(`${fx.coreUrl}/static/dist/flow.js`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await fx?.stop();
    await upstream?.stop();
  }, PROCESS_TIMEOUT_MS);

  const signIn = (page: Page) => signInOnPage(page, fx.coreUrl, ALICE);
  const headersShown = (page: Page) => shownJson<SeenRequest>(page);

  test("open the app → login page → sign in → the app shows who it is; sign-out asks again", async () => {
    const page = await browser.newPage();
    await page.goto(`${app}/headers?from=chromium`);
    await signIn(page);
    await page.waitForURL(`${app}/headers?from=chromium`);
    const seen = await headersShown(page);
    expect(seen.headers["x-authentik-username"]).toBe("alice");
    expect(seen.headers["x-authentik-email"]).toBe("alice@example.test");
    expect(seen.headers["x-authentik-name"]).toBe("Alice Liddell");
    expect(seen.headers["x-authentik-groups"]).toBe("readers");
    expect(seen.headers["x-authentik-meta-app"]).toBe("app");
    expect(seen.headers["x-authentik-jwt"]?.split(".")).toHaveLength(3);
    expect(seen.headers["x-forwarded-host"]).toBe(new URL(app).host);
    const cookies = await page.context().cookies(app);
    const session = cookies.find((c) => /^authentik_proxy_[0-9a-f]{8}$/.test(c.name));
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe("Lax");
    // The session secret stays between the browser and the outpost.
    expect(seen.headers.cookie ?? "").not.toContain(session?.value as string);

    // A second visit goes straight through.
    await page.goto(`${app}/headers?again=1`);
    expect((await headersShown(page)).headers["x-authentik-username"]).toBe("alice");

    // Sign out: the outpost ends its session and sends the browser to the core's end-session endpoint,
    // whose invalidation flow ends the core session too.
    await page.goto(`${app}/outpost.goauthentik.io/sign_out`);
    await page.waitForURL((url) => url.href.startsWith(fx.coreUrl));
    await page.waitForLoadState("networkidle");
    expect((await page.context().cookies(app)).some((c) => c.name === session?.name)).toBe(false);
    await page.goto(`${app}/headers?after=signout`);
    await onLoginPage(page, fx.coreUrl);
    await expect(page.getByLabel("Email or Username").isVisible()).resolves.toBe(true);
    await page.close();
  }, 60_000);
});
