/**
 * The embedded proxy outpost ("authentik Embedded Outpost", reference §1.8) end to end: a real core over
 * HTTP whose own port serves a proxy provider's host once the provider is assigned to the managed
 * outpost, with no second listener. A browser is played with fetch, a cookie jar and explicit Host
 * headers (every name resolves to the core's 127.0.0.1 port): login through the core, the upstream
 * seeing the X-authentik-* headers, forward auth for nginx, sign_out, SESSION_END, a websocket, the
 * core's own routes never shadowed, and the host going back to the core when the provider is removed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { type RunningServer, startServer } from "../../core/src/http/server.ts";
import { type EmbeddedOutposts, startEmbeddedOutposts } from "../../core/src/outposts/embedded.ts";
import { memoryLogger } from "../../shared/log.ts";
import { Jar } from "../support/cookie-jar.ts";
import { ADMIN_TOKEN, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";
import { eventually } from "../support/polling.ts";

describe("the embedded proxy outpost on the core's port", () => {
  let t: TestCore;
  let core: RunningServer;
  let upstream: Server<undefined>;
  let embedded: EmbeddedOutposts | undefined;
  let port = 0;
  let app = "";
  let outpostPk = "";
  let providers: number[] = [];
  let alice = 0;
  const log = memoryLogger("debug");

  /** A request as a browser would send it to `url`, every host resolving to the core's port. */
  const get = (url: string, jar?: Jar, headers: Record<string, string> = {}, method = "GET") => {
    const target = new URL(url);
    return fetch(`http://127.0.0.1:${port}${target.pathname}${target.search}`, {
      method,
      redirect: "manual",
      headers: { host: target.host, ...(jar && { cookie: jar.header() }), ...headers },
    }).then((res) => {
      jar?.keep(res);
      return res;
    });
  };

  const assign = async (pks: number[]) => {
    const res = await t.api("PATCH", `/api/v3/outposts/instances/${outpostPk}/`, {
      body: { providers: pks },
    });
    expect(res.status, res.text).toBe(200);
  };

  const connected = () =>
    eventually("the embedded outpost's control channel", async () => {
      const instance = embedded?.running("proxy")?.instance;
      if (!instance) return undefined;
      const health = await t.api("GET", `/api/v3/outposts/instances/${outpostPk}/health/`);
      return (health.body as { uid: string }[]).some((h) => h.uid === instance) ? true : undefined;
    });

  beforeAll(async () => {
    t = await startTestCore("sqlite");
    core = startServer(t.core, log, "127.0.0.1:0");
    port = core.server.port ?? 0;
    app = `http://app.local.test:${port}`;
    upstream = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req, srv) {
        const url = new URL(req.url);
        if (url.pathname === "/ws")
          return srv.upgrade(req, { data: undefined }) ? undefined : new Response("no", { status: 426 });
        return Response.json({ path: url.pathname + url.search, headers: Object.fromEntries(req.headers) });
      },
      websocket: {
        message(ws, message) {
          ws.send(`echo:${message}`);
        },
      },
    });
    const flow = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;
    const flows = {
      authorization_flow: await flow("default-provider-authorization-implicit-consent"),
      invalidation_flow: await flow("default-provider-invalidation-flow"),
    };
    const provider = async (name: string, body: Record<string, unknown>) => {
      const res = await t.api("POST", "/api/v3/providers/proxy/", { body: { name, ...flows, ...body } });
      expect(res.status, res.text).toBe(201);
      const created = await t.api("POST", "/api/v3/core/applications/", {
        body: { name, slug: name, provider: res.body.pk },
      });
      expect(created.status, created.text).toBe(201);
      return res.body.pk as number;
    };
    const internal = `http://127.0.0.1:${upstream.port}`;
    providers = [
      await provider("app", { mode: "proxy", external_host: app, internal_host: internal }),
      await provider("fwd", { mode: "forward_single", external_host: "http://fwd.local.test" }),
      // A provider on the core's own address takes only the outpost's paths there, never the core's.
      await provider("own", { mode: "proxy", external_host: core.url, internal_host: internal }),
    ];
    const user = await t.api("POST", "/api/v3/core/users/", {
      body: { username: "alice", name: "Alice Liddell", email: "alice@example.test" },
    });
    alice = user.body.pk;
    await t.api("POST", `/api/v3/core/users/${alice}/set_password/`, {
      body: { password: "alice-password" },
    });
    const found = await t.api(
      "GET",
      "/api/v3/outposts/instances/?managed__iexact=goauthentik.io/outposts/embedded",
    );
    expect(found.body.results[0]?.name).toBe("authentik Embedded Outpost");
    expect(found.body.results[0]?.type).toBe("proxy");
    outpostPk = found.body.results[0].pk;

    // Without a provider it does not run, and the core answers every host itself.
    embedded = await startEmbeddedOutposts(t.core.ctx, core.url, log, core.embeddedProxy);
    expect(embedded.running("proxy")).toBeUndefined();
    expect((await get(`${app}/private`)).headers.get("location")).toBeNull();
    await assign(providers);
    await connected();
  }, 60_000);

  afterAll(async () => {
    await embedded?.stop();
    upstream?.stop(true);
    await core?.stop();
    await t?.stop();
  });

  async function login(): Promise<Jar> {
    const jar = new Jar();
    const client = new FlowClient((r) => t.core.app.handle(r));
    await client.login("default-authentication-flow", "alice", "alice-password");
    jar.cookies.set("authentik_session", client.cookie ?? "");
    const first = await get(`${app}/private?x=1`, jar);
    expect(first.status).toBe(302);
    const start = first.headers.get("location") ?? "";
    expect(start).toBe(`${app}/outpost.goauthentik.io/start?rd=${encodeURIComponent(`${app}/private?x=1`)}`);
    const toAuthorize = await get(start, jar);
    expect(toAuthorize.status).toBe(302);
    const authorize = new URL(toAuthorize.headers.get("location") ?? "");
    expect(authorize.origin).toBe(core.url);
    expect(authorize.pathname).toBe("/application/o/authorize/");
    const toFlow = await get(authorize.href, jar);
    expect(toFlow.status).toBe(302);
    const slug = /^\/if\/flow\/([^/]+)\//.exec(
      new URL(toFlow.headers.get("location") ?? "", core.url).pathname,
    )?.[1];
    expect(slug).toBeString();
    client.cookie = jar.cookies.get("authentik_session");
    const done = await client.get(slug as string);
    expect(done.component).toBe("xak-flow-redirect");
    expect(done.to).toStartWith(`${app}/outpost.goauthentik.io/callback?`);
    const back = await get(done.to, jar);
    expect(back.status, await back.clone().text()).toBe(302);
    expect(back.headers.get("location")).toBe(`${app}/private?x=1`);
    expect(jar.proxyCookie()).toBeString();
    return jar;
  }

  const seen = async (res: Response) => {
    expect(res.status).toBe(200);
    return (await res.json()) as { path: string; headers: Record<string, string> };
  };

  test("a browser logs in through the core and the upstream sees who it is", async () => {
    const jar = await login();
    const body = await seen(await get(`${app}/private?x=1`, jar));
    expect(body.path).toBe("/private?x=1");
    expect(body.headers["x-authentik-username"]).toBe("alice");
    expect(body.headers["x-authentik-email"]).toBe("alice@example.test");
    expect(body.headers["x-authentik-meta-outpost"]).toBe("authentik Embedded Outpost");
    expect(body.headers["x-authentik-meta-app"]).toBe("app");
    expect(body.headers["x-forwarded-host"]).toBe(`app.local.test:${port}`);
    // The core's own cookie and the proxy cookie stay with the core and the outpost.
    expect(body.headers.cookie ?? "").not.toContain(jar.proxyCookie() as string);
  });

  test("forward_single: /outpost.goauthentik.io/auth/nginx answers 200 with headers or 401", async () => {
    const nginx = `http://fwd.local.test/outpost.goauthentik.io/auth/nginx`;
    const original = { "x-original-url": "http://fwd.local.test/a" };
    expect((await get(nginx, undefined, original)).status).toBe(401);
    const token = await t.api("POST", "/api/v3/core/tokens/", {
      body: { identifier: "alice-app", intent: "app_password", user: alice, expiring: false },
    });
    expect(token.status, token.text).toBe(201);
    const key = (await t.api("GET", "/api/v3/core/tokens/alice-app/view_key/")).body.key;
    const basic = `Basic ${Buffer.from(`alice:${key}`).toString("base64")}`;
    const ok = await get(nginx, undefined, { ...original, authorization: basic });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-authentik-username")).toBe("alice");
    expect(ok.headers.get("x-authentik-meta-app")).toBe("fwd");
  });

  test("websockets are bridged through the core's port", async () => {
    const jar = await login();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
      headers: { host: `app.local.test:${port}`, cookie: jar.header() },
    } as unknown as string[]);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send("hi");
      ws.onmessage = (e) => resolve(String(e.data));
      ws.onerror = () => reject(new Error("websocket failed"));
      ws.onclose = (e) => reject(new Error(`websocket closed ${e.code} ${e.reason}`));
    });
    ws.close();
    expect(reply).toBe("echo:hi");
  });

  test("sign_out ends the session in the core and sends the browser to the end-session endpoint", async () => {
    const jar = await login();
    const cookie = jar.proxyCookie() as string;
    const value = jar.cookies.get(cookie) as string;
    const out = await get(`${app}/outpost.goauthentik.io/sign_out`, jar);
    expect(out.status).toBe(302);
    expect(out.headers.get("location")).toBe(`${core.url}/application/o/app/end-session/`);
    expect((await get(`${app}/private`, undefined, { cookie: `${cookie}=${value}` })).status).toBe(302);
  });

  test("ending the core session (SESSION_END) refuses the next request within a second", async () => {
    const jar = await login();
    expect((await get(`${app}/private`, jar)).status).toBe(200);
    const sessions = await t.api("GET", "/api/v3/core/authenticated_sessions/?user__username=alice");
    for (const s of sessions.body.results as { uuid: string }[])
      expect((await t.api("DELETE", `/api/v3/core/authenticated_sessions/${s.uuid}/`)).status).toBe(204);
    await eventually(
      "the session to end",
      async () => ((await get(`${app}/private`, jar)).status === 302 ? true : undefined),
      1_000,
    );
  });

  test("the core's own routes are never shadowed, even by a provider on the core's own address", async () => {
    expect((await get(`${core.url}/-/health/live/`)).status).toBe(204);
    const api = await get(`${core.url}/api/v3/core/users/me/`, undefined, {
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(api.status).toBe(200);
    expect(((await api.json()) as { user: { username: string } }).user.username).toBe("akadmin");
    const discovery = await get(`${core.url}/application/o/app/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    // Only the outpost's paths on the core's host go to the outpost.
    const start = await get(`${core.url}/outpost.goauthentik.io/start?rd=/x`);
    expect(start.status).toBe(302);
    expect(new URL(start.headers.get("location") ?? "").pathname).toBe("/application/o/authorize/");
    expect((await get(`${core.url}/outpost.goauthentik.io/ping`)).status).toBe(204);
    expect((await get(`${core.url}/private`)).headers.get("location")).toBeNull();
  });

  test("removing the provider gives its host back to the core; adding it serves it again", async () => {
    await assign([]);
    await eventually("the embedded outpost to stop", async () =>
      embedded?.running("proxy") === undefined ? true : undefined,
    );
    const res = await get(`${app}/private`);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect((await get(`${app}/outpost.goauthentik.io/ping`)).status).toBe(404);
    await assign(providers);
    await connected();
    expect((await get(`${app}/private`)).status).toBe(302);
  });
});
