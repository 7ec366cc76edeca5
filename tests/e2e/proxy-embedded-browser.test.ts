/**
 * Chromium through the embedded proxy outpost ("authentik Embedded Outpost"): one core process, no
 * outpost of its own. The app is http://app.localhost:PORT on the core's own port (Chromium resolves
 * *.localhost to loopback); the core sends the browser to its login page at its own address, and after
 * signing in the browser lands on the echo upstream's /headers with the X-authentik-* headers the
 * embedded outpost set. Sign-out ends the session, and the app asks for a login again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { type RunningServer, startServer } from "../../core/src/http/server.ts";
import { type EmbeddedOutposts, startEmbeddedOutposts } from "../../core/src/outposts/embedded.ts";
import { memoryLogger } from "../../shared/log.ts";
import { launchBrowser, needBrowser, onLoginPage, shownJson, signInOnPage } from "../support/browser.ts";
import { startTestCore, type TestCore } from "../support/core.ts";
import { eventually } from "../support/polling.ts";
import { PROCESS_TIMEOUT_MS } from "../support/process.ts";
import { createProxyProvider } from "../support/proxy-outpost.ts";
import { type SeenRequest, startUpstream, type Upstream } from "../support/upstream.ts";

const run = needBrowser();

describe.skipIf(!run)("Chromium through the embedded proxy outpost on the core's port", () => {
  let t: TestCore;
  let core: RunningServer;
  let embedded: EmbeddedOutposts | undefined;
  let upstream: Upstream;
  let browser: Browser;
  let app = "";
  const log = memoryLogger("warn");

  beforeAll(async () => {
    t = await startTestCore("sqlite");
    core = startServer(t.core, log, "127.0.0.1:0");
    app = `http://app.localhost:${core.server.port}`;
    upstream = await startUpstream();
    const provider = await createProxyProvider(
      t,
      "app",
      { mode: "proxy", external_host: app, internal_host: upstream.url },
      // Signing out of the app ends the core session too.
      { invalidation: "default-invalidation-flow" },
    );
    const user = await t.api("POST", "/api/v3/core/users/", {
      body: { username: "alice", name: "Alice Liddell", email: "alice@example.test" },
    });
    await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
      body: { password: "alice-password" },
    });
    const found = await t.api(
      "GET",
      "/api/v3/outposts/instances/?managed__iexact=goauthentik.io/outposts/embedded",
    );
    const outpost = found.body.results[0];
    const assigned = await t.api("PATCH", `/api/v3/outposts/instances/${outpost.pk}/`, {
      body: { providers: [provider.pk] },
    });
    expect(assigned.status, assigned.text).toBe(200);
    embedded = await startEmbeddedOutposts(t.core.ctx, core.url, log, core.embeddedProxy);
    await eventually("the embedded proxy outpost serving the app", async () =>
      (await fetch(`${core.url}/private`, { headers: { host: new URL(app).host }, redirect: "manual" }))
        .status === 302
        ? true
        : undefined,
    );
    browser = await launchBrowser();
    // Bundle the flow page's script once up front, so no step waits for it.
    await fetch(`${core.url}/static/dist/flow.js`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await embedded?.stop();
    await upstream?.stop();
    await core?.stop();
    await t?.stop();
  }, PROCESS_TIMEOUT_MS);

  const headersShown = (page: Page) => shownJson<SeenRequest>(page);

  test("open the app → the core's login page → sign in → the app shows who it is; sign-out asks again", async () => {
    const page = await browser.newPage();
    await page.goto(`${app}/headers?from=chromium`);
    await signInOnPage(page, core.url, { username: "alice", password: "alice-password" });
    await page.waitForURL(`${app}/headers?from=chromium`);
    const seen = await headersShown(page);
    expect(seen.headers["x-authentik-username"]).toBe("alice");
    expect(seen.headers["x-authentik-name"]).toBe("Alice Liddell");
    expect(seen.headers["x-authentik-meta-outpost"]).toBe("authentik Embedded Outpost");
    expect(seen.headers["x-authentik-meta-app"]).toBe("app");
    expect(seen.headers["x-forwarded-host"]).toBe(new URL(app).host);
    const session = (await page.context().cookies(app)).find((c) =>
      /^authentik_proxy_[0-9a-f]{8}$/.test(c.name),
    );
    expect(session?.httpOnly).toBe(true);
    expect(seen.headers.cookie ?? "").not.toContain(session?.value as string);

    await page.goto(`${app}/outpost.goauthentik.io/sign_out`);
    await page.waitForURL((url) => url.href.startsWith(core.url));
    await page.waitForLoadState("networkidle");
    expect((await page.context().cookies(app)).some((c) => c.name === session?.name)).toBe(false);
    await page.goto(`${app}/headers?after=signout`);
    await onLoginPage(page, core.url);
    await expect(page.getByLabel("Email or Username").isVisible()).resolves.toBe(true);
    await page.close();
  }, 60_000);
});
