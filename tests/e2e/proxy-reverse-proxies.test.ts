/**
 * The compiled proxy outpost (dist/gatehouse-proxy) with real clients: a core, the echo upstream, and
 * the outpost as child processes. Proxy mode with two replicas behind the same host (a login through
 * one holds on the other and across a restart; sign-out and an ended core session are refused on both
 * within a second), bearer and basic (app password) auth, a websocket; then nginx auth_request and Caddy
 * forward_auth, configured as the README says, in forward_single and forward_domain mode.
 * The browser is fetch with a cookie jar (support/web-client.ts); proxy-browser.test.ts uses Chromium.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eventually } from "../support/polling.ts";
import { freePort, PROCESS_TIMEOUT_MS } from "../support/process.ts";
import { ALICE, type OutpostProcess, ProxyFixture, type ProxyProvider } from "../support/proxy-outpost.ts";
import { APP_HOST, AUTH_HOST, forwardAuthServers, type ReverseProxy } from "../support/reverse-proxies.ts";
import { type SeenRequest, startUpstream, type Upstream } from "../support/upstream.ts";
import { WebClient } from "../support/web-client.ts";
import { firstReply } from "../support/websocket.ts";

const PROXY_COOKIE = /^authentik_proxy_[0-9a-f]{8}$/;
/** How soon an ended session must be refused everywhere (the issue's acceptance). */
const REVOKE_MS = 1_000;

let fx: ProxyFixture;
let upstream: Upstream;
let app: ProxyProvider;
/** The first replica; forward auth goes to it too. */
let outpost: OutpostProcess;
let base = "";
let appHost = "";

beforeAll(async () => {
  fx = await ProxyFixture.start();
  upstream = await startUpstream();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  appHost = `127.0.0.1:${port}`;
  app = await fx.provider("app", { mode: "proxy", external_host: base, internal_host: upstream.url });
  await fx.serve([app.pk]);
  outpost = await fx.startOutpost(port);
}, 120_000);

afterAll(async () => {
  await fx?.stop();
  await upstream?.stop();
}, PROCESS_TIMEOUT_MS);

const seen = async (res: Response): Promise<SeenRequest> => {
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as SeenRequest;
};

/** A fresh browser signed in through the outpost (on replica port `via`); it lands on /headers. */
async function signIn(via?: number): Promise<WebClient> {
  const browser = new WebClient(fx.coreUrl, ALICE);
  const landed = await browser.walk(`${base}/headers?from=login`, { via, viaHost: appHost });
  expect(landed.url, browser.seen.join(" → ")).toBe(`${base}/headers?from=login`);
  const h = (await seen(landed.res)).headers;
  expect(h["x-authentik-username"]).toBe("alice");
  return browser;
}

/** The status `browser` gets for /headers through the replica on `via` (redirects not followed). */
const statusVia = async (browser: WebClient, via: number) =>
  (await browser.request(`${base}/headers`, { via })).status;

describe("proxy mode with two replicas of the compiled outpost", () => {
  let second: OutpostProcess;

  beforeAll(async () => {
    second = await fx.startOutpost();
  }, PROCESS_TIMEOUT_MS);

  test("a login through one replica is valid on the other, with the X-authentik-* headers", async () => {
    const browser = await signIn(outpost.port);
    const cookie = browser.cookie(base, PROXY_COOKIE);
    expect(cookie?.name).toMatch(PROXY_COOKIE);
    const res = await browser.request(`${base}/headers`, {
      via: second.port,
      headers: { "X-authentik-username": "mallory", "X-authentik-groups": "admins" },
    });
    const h = (await seen(res)).headers;
    expect(h["x-authentik-username"]).toBe("alice");
    expect(h["x-authentik-email"]).toBe("alice@example.test");
    expect(h["x-authentik-name"]).toBe("Alice Liddell");
    expect(h["x-authentik-groups"]).toBe("readers");
    expect(h["x-authentik-meta-app"]).toBe("app");
    expect(h["x-authentik-meta-outpost"]).toBe("edge");
    expect(h["x-authentik-jwt"]?.split(".")).toHaveLength(3);
    expect(h["x-forwarded-host"]).toBe(appHost);
    expect(h.cookie ?? "").not.toContain(cookie?.value as string);
  });

  test(
    "restarting a replica keeps the session",
    async () => {
      const browser = await signIn(second.port);
      const port = second.port;
      await second.stop();
      second = await fx.startOutpost(port);
      expect(await statusVia(browser, second.port)).toBe(200);
      expect(await statusVia(browser, outpost.port)).toBe(200);
    },
    PROCESS_TIMEOUT_MS,
  );

  test(
    "sign-out through one replica ends the session on both, and the app asks for login again",
    async () => {
      const browser = await signIn(outpost.port);
      const other = await signIn(second.port);
      expect(await statusVia(browser, second.port)).toBe(200);
      const out = await browser.walk(`${base}/outpost.goauthentik.io/sign_out`, {
        via: outpost.port,
        viaHost: appHost,
      });
      // The provider's invalidation flow (default-invalidation-flow) ends the core session as well.
      expect(browser.cookie(base, PROXY_COOKIE)).toBeUndefined();
      expect(out.res.status).toBe(200);
      const started = Date.now();
      for (const via of [outpost.port, second.port])
        await eventually(`sign-out on :${via}`, async () =>
          (await statusVia(browser, via)) === 302 ? true : undefined,
        );
      expect(Date.now() - started).toBeLessThan(REVOKE_MS);
      // Another browser of alice's has its own core session and stays signed in.
      expect(await statusVia(other, second.port)).toBe(200);
      // The next visit walks into the login flow again (the core session is gone).
      const again = await browser.walk(`${base}/headers`, { via: second.port, viaHost: appHost });
      expect(browser.seen).toContain("xak-flow-redirect");
      expect(again.res.status).toBe(200);
    },
    PROCESS_TIMEOUT_MS,
  );

  test("an ended core session is refused on both replicas within one second", async () => {
    const browser = await signIn(outpost.port);
    for (const via of [outpost.port, second.port]) expect(await statusVia(browser, via)).toBe(200);
    expect(await fx.endAliceSessions()).toBeGreaterThan(0);
    const started = Date.now();
    await Promise.all(
      [outpost.port, second.port].map((via) =>
        eventually(
          `the ended session on :${via}`,
          async () => ((await statusVia(browser, via)) === 302 ? true : undefined),
          REVOKE_MS,
        ),
      ),
    );
    expect(Date.now() - started).toBeLessThan(REVOKE_MS);
  });

  test("a bearer token and basic auth with an app password pass; wrong ones do not", async () => {
    const token = await fx.accessToken(app);
    const plain = new WebClient(fx.coreUrl);
    for (const via of [outpost.port, second.port]) {
      const bearer = await plain.request(`${base}/headers`, {
        via,
        headers: { authorization: `Bearer ${token}` },
      });
      const hb = (await seen(bearer)).headers;
      expect(hb["x-authentik-username"]).toBe("alice");
      expect(hb.authorization).toBeUndefined();
      const basic = `Basic ${Buffer.from(`alice:${fx.appPassword}`).toString("base64")}`;
      const viaBasic = await plain.request(`${base}/headers`, { via, headers: { authorization: basic } });
      expect((await seen(viaBasic)).headers["x-authentik-groups"]).toBe("readers");
    }
    const wrong = `Basic ${Buffer.from("alice:not-the-password").toString("base64")}`;
    expect((await plain.request(`${base}/headers`, { headers: { authorization: wrong } })).status).toBe(302);
    expect(
      (await plain.request(`${base}/headers`, { headers: { authorization: "Bearer x.y.z" } })).status,
    ).toBe(302);
  });

  test("a websocket echoes through the outpost for a signed-in browser, and not without one", async () => {
    const browser = await signIn(outpost.port);
    const echo = (headers: Record<string, string>) =>
      firstReply(
        `ws://127.0.0.1:${second.port}/ws`,
        { host: appHost, ...headers },
        "hello through the outpost",
      );
    expect(await echo({ cookie: browser.cookieHeader(base) })).toBe("hello through the outpost");
    await expect(echo({})).rejects.toThrow("websocket");
  });
});

const servers = forwardAuthServers();

for (const server of servers)
  for (const mode of ["forward_single", "forward_domain"] as const)
    describe.skipIf(!server.ready)(`${server.kind} forward auth (${mode}) with the compiled outpost`, () => {
      let proxy: ReverseProxy;
      let fwd: ProxyProvider;
      let origin = "";
      let external = "";

      beforeAll(async () => {
        proxy = await server.start(server.config({ mode, upstream: upstream.url, outpost: outpost.url }));
        origin = proxy.hostUrl(APP_HOST);
        external = mode === "forward_single" ? origin : proxy.hostUrl(AUTH_HOST);
        fwd = await fx.provider(`${server.kind}-${mode.replace("_", "-")}`, {
          mode,
          external_host: external,
          ...(mode === "forward_domain" && { cookie_domain: "gatehouse.test" }),
        });
        await fx.serve([app.pk, fwd.pk]);
        // The outpost refreshes its configuration some seconds after the change (with jitter): it serves
        // this provider once the app sees it named for a request with alice's app password.
        const basic = `Basic ${Buffer.from(`alice:${fx.appPassword}`).toString("base64")}`;
        const probe = new WebClient(fx.coreUrl);
        await eventually(
          "the outpost to serve the provider",
          async () => {
            const res = await probe.request(`${origin}/headers`, { headers: { authorization: basic } });
            if (res.status !== 200) return void (await res.body?.cancel());
            const seen = (await res.json()) as SeenRequest;
            return seen.headers["x-authentik-meta-provider"] === fwd.name ? true : undefined;
          },
          20_000,
        ).catch((err: Error) => {
          throw new Error(
            `${err.message}\n${server.kind} log:\n${proxy.log()}\noutpost:\n${outpost.output()}`,
          );
        });
      }, PROCESS_TIMEOUT_MS);

      afterAll(async () => {
        // Another forward_domain provider for the same cookie domain comes next: this one goes.
        await fx?.serve([app.pk]);
        await proxy?.stop();
      }, PROCESS_TIMEOUT_MS);

      test("without a session the app is not reached and sign-in starts at the core", async () => {
        const browser = new WebClient(fx.coreUrl);
        const res = await browser.request(`${origin}/headers?x=1`, {
          headers: { "X-authentik-username": "mallory" },
        });
        expect(res.status).toBe(302);
        expect(await res.text()).not.toContain("mallory");
        // nginx sends the browser to /start (on the auth host in forward_domain); Caddy passes on the
        // outpost's redirect to the core's authorization endpoint. Either way the login comes back to
        // the provider's external host.
        let location = new URL(res.headers.get("location") ?? "", origin);
        if (server.kind === "nginx") {
          expect(location.origin).toBe(external);
          expect(location.pathname).toBe("/outpost.goauthentik.io/start");
          expect(location.searchParams.get("rd")).toBe(`${origin}/headers?x=1`);
          const start = await browser.request(location);
          expect(start.status).toBe(302);
          location = new URL(start.headers.get("location") ?? "");
        }
        expect(location.origin + location.pathname).toBe(`${fx.coreUrl}/application/o/authorize/`);
        expect(location.searchParams.get("client_id")).toBe(fwd.client_id);
        expect(location.searchParams.get("redirect_uri")).toStartWith(
          `${external}/outpost.goauthentik.io/callback`,
        );
      });

      test("a login lands on the app, which sees the X-authentik-* headers and not the client's", async () => {
        const browser = new WebClient(fx.coreUrl, ALICE);
        const landed = await browser.walk(`${origin}/headers?y=2`);
        expect(landed.url, browser.seen.join(" → ")).toBe(`${origin}/headers?y=2`);
        expect((await seen(landed.res)).headers["x-authentik-username"]).toBe("alice");
        const cookie = browser.cookie(origin, PROXY_COOKIE);
        expect(cookie).toBeDefined();
        if (mode === "forward_domain")
          expect(browser.cookie(`http://other.gatehouse.test/`, PROXY_COOKIE)).toEqual(cookie);
        const res = await browser.request(`${origin}/headers`, {
          headers: {
            "X-authentik-username": "mallory",
            "X-authentik-groups": "admins",
            "X-authentik-meta-app": "mallory-app",
          },
        });
        const h = (await seen(res)).headers;
        expect(h["x-authentik-username"]).toBe("alice");
        expect(h["x-authentik-email"]).toBe("alice@example.test");
        expect(h["x-authentik-groups"]).toBe("readers");
        expect(h["x-authentik-meta-app"]).toBe(fwd.name);
        expect(h["x-authentik-meta-provider"]).toBe(fwd.name);
        expect(h["x-authentik-jwt"]?.split(".")).toHaveLength(3);
        expect(h.host).toBe(new URL(origin).host);
      });

      test("sign-out ends the session and the app asks for login again", async () => {
        const browser = new WebClient(fx.coreUrl, ALICE);
        await browser.walk(`${origin}/headers`);
        expect((await browser.request(`${origin}/headers`)).status).toBe(200);
        const out = await browser.walk(`${external}/outpost.goauthentik.io/sign_out`);
        expect(out.res.status).toBe(200);
        expect(browser.cookie(origin, PROXY_COOKIE)).toBeUndefined();
        expect((await browser.request(`${origin}/headers`)).status).toBe(302);
      });
    });
