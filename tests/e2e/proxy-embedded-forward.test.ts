/**
 * nginx `auth_request` and Caddy `forward_auth`, configured as the README says, with the embedded proxy
 * outpost ("authentik Embedded Outpost") on the core's own port as the outpost: no second process.
 * forward_single and forward_domain: a login lands on the app with the X-authentik-* headers (never the
 * client's), and sign-out ends the session. proxy-reverse-proxies.test.ts runs the same with the
 * compiled outpost.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type EmbeddedOutposts, startEmbeddedOutposts } from "../../core/src/outposts/embedded.ts";
import { memoryLogger } from "../../shared/log.ts";
import { eventually } from "../support/polling.ts";
import { PROCESS_TIMEOUT_MS } from "../support/process.ts";
import { ALICE, ProxyFixture } from "../support/proxy-outpost.ts";
import { APP_HOST, AUTH_HOST, forwardAuthServers, type ReverseProxy } from "../support/reverse-proxies.ts";
import { type SeenRequest, startUpstream, type Upstream } from "../support/upstream.ts";
import { WebClient } from "../support/web-client.ts";

const PROXY_COOKIE = /^authentik_proxy_[0-9a-f]{8}$/;

let fx: ProxyFixture;
let upstream: Upstream;
let embedded: EmbeddedOutposts | undefined;
let outpostPk = "";

beforeAll(async () => {
  fx = await ProxyFixture.start();
  upstream = await startUpstream();
  const found = await fx.t.api(
    "GET",
    "/api/v3/outposts/instances/?managed__iexact=goauthentik.io/outposts/embedded",
  );
  outpostPk = found.body.results[0].pk;
  embedded = await startEmbeddedOutposts(
    fx.t.core.ctx,
    fx.coreUrl,
    memoryLogger("warn"),
    fx.core.embeddedProxy,
  );
}, 120_000);

afterAll(async () => {
  await embedded?.stop();
  await fx?.stop();
  await upstream?.stop();
}, PROCESS_TIMEOUT_MS);

const seen = async (res: Response): Promise<SeenRequest> => {
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as SeenRequest;
};

const servers = forwardAuthServers();

for (const server of servers)
  for (const mode of ["forward_single", "forward_domain"] as const)
    describe.skipIf(!server.ready)(`${server.kind} forward auth (${mode}) with the embedded outpost`, () => {
      let proxy: ReverseProxy;
      let origin = "";
      let external = "";
      let name = "";

      beforeAll(async () => {
        // The outpost is the core itself: the reverse proxy asks the core's port.
        proxy = await server.start(server.config({ mode, upstream: upstream.url, outpost: fx.coreUrl }));
        origin = proxy.hostUrl(APP_HOST);
        external = mode === "forward_single" ? origin : proxy.hostUrl(AUTH_HOST);
        name = `embedded-${server.kind}-${mode.replace("_", "-")}`;
        const provider = await fx.provider(name, {
          mode,
          external_host: external,
          ...(mode === "forward_domain" && { cookie_domain: "gatehouse.test" }),
        });
        const assigned = await fx.t.api("PATCH", `/api/v3/outposts/instances/${outpostPk}/`, {
          body: { providers: [provider.pk] },
        });
        expect(assigned.status, assigned.text).toBe(200);
        const basic = `Basic ${Buffer.from(`alice:${fx.appPassword}`).toString("base64")}`;
        const probe = new WebClient(fx.coreUrl);
        await eventually(
          "the embedded outpost to serve the provider",
          async () => {
            const res = await probe.request(`${origin}/headers`, { headers: { authorization: basic } });
            if (res.status !== 200) return void (await res.body?.cancel());
            const h = ((await res.json()) as SeenRequest).headers;
            return h["x-authentik-meta-provider"] === name ? true : undefined;
          },
          20_000,
        ).catch((err: Error) => {
          throw new Error(`${err.message}\n${server.kind} log:\n${proxy.log()}`);
        });
      }, PROCESS_TIMEOUT_MS);

      afterAll(async () => {
        await fx?.t.api("PATCH", `/api/v3/outposts/instances/${outpostPk}/`, { body: { providers: [] } });
        await proxy?.stop();
      }, PROCESS_TIMEOUT_MS);

      test("a login lands on the app, which sees the X-authentik-* headers and not the client's", async () => {
        const browser = new WebClient(fx.coreUrl, ALICE);
        const landed = await browser.walk(`${origin}/headers?y=2`);
        expect(landed.url, browser.seen.join(" → ")).toBe(`${origin}/headers?y=2`);
        expect(browser.cookie(origin, PROXY_COOKIE)).toBeDefined();
        const res = await browser.request(`${origin}/headers`, {
          headers: { "X-authentik-username": "mallory", "X-authentik-groups": "admins" },
        });
        const h = (await seen(res)).headers;
        expect(h["x-authentik-username"]).toBe("alice");
        expect(h["x-authentik-groups"]).toBe("readers");
        expect(h["x-authentik-meta-outpost"]).toBe("authentik Embedded Outpost");
        expect(h["x-authentik-meta-provider"]).toBe(name);
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
