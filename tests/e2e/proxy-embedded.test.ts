/**
 * The embedded proxy outpost ("authentik Embedded Outpost", reference §1.8) end to end: a real core over
 * HTTP whose own port serves a proxy provider's host once the provider is assigned to the managed
 * outpost, with no second listener. A browser is played with fetch, a cookie jar and explicit Host
 * headers (every name resolves to the core's 127.0.0.1 port): login through the core, the upstream
 * seeing the X-authentik-* headers, forward auth for nginx, sign_out, SESSION_END, a websocket, the
 * core's own routes never shadowed, and the host going back to the core when the provider is removed.
 * A session outlives the outpost's few-second cache: the outpost asks the store again. It runs on every
 * store; on PostgreSQL a second core replica on the same database makes the changes too, so SESSION_END,
 * sign-outs and provider assignments are seen to reach the outpost through LISTEN/NOTIFY.
 */
import { afterAll, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import type { Server } from "bun";
import { type Core, createCore } from "../../core/src/core.ts";
import { type RunningServer, startServer } from "../../core/src/http/server.ts";
import { type EmbeddedOutposts, startEmbeddedOutposts } from "../../core/src/outposts/embedded.ts";
import { SESSION_TTL_MS } from "../../outposts/proxy/session.ts";
import { sha256Hex } from "../../shared/crypto.ts";
import { memoryLogger } from "../../shared/log.ts";
import type { Jar } from "../support/cookie-jar.ts";
import { ADMIN_TOKEN, backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { eventually } from "../support/polling.ts";
import { proxyLogin } from "../support/proxy-login.ts";
import { createProxyProvider } from "../support/proxy-outpost.ts";
import { firstReply } from "../support/websocket.ts";

for (const backend of backendNames()) {
  describe(`the embedded proxy outpost on the core's port (${backend})`, () => {
    let t: TestCore;
    let core: RunningServer;
    let upstream: Server<undefined>;
    let embedded: EmbeddedOutposts | undefined;
    let port = 0;
    let app = "";
    let outpostPk = "";
    let providers: number[] = [];
    let alice = 0;
    /** PostgreSQL only: a second core on the same database, which the embedded outpost is not connected to. */
    let replica: Core | undefined;
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

    /** An admin's API call through the replica. */
    const onReplica = (method: string, path: string, body?: unknown) =>
      (replica as Core).app.handle(
        new Request(`http://localhost${path}`, {
          method,
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        }),
      );

    const assign = async (pks: number[], through: "core" | "replica" = "core") => {
      const path = `/api/v3/outposts/instances/${outpostPk}/`;
      const res =
        through === "core"
          ? await t.api("PATCH", path, { body: { providers: pks } })
          : await onReplica("PATCH", path, { providers: pks }).then(async (r) => ({
              status: r.status,
              text: await r.text(),
            }));
      expect(res.status, res.text).toBe(200);
    };

    /** Runs `fn` with this process's clock (the core's and the outpost's caches') `ms` ahead, frozen. */
    const later = async <T>(ms: number, fn: () => Promise<T>): Promise<T> => {
      setSystemTime(new Date(Date.now() + ms));
      try {
        return await fn();
      } finally {
        setSystemTime();
      }
    };

    /** The embedded outpost's lookups of one proxy session in the core, by the status each got. */
    const lookups = (cookieValue: string) => {
      const path = `/api/v3/outposts/proxy/sessions/${sha256Hex(cookieValue)}/`;
      return log.lines
        .filter((l) => l.msg === "request" && l.method === "GET" && l.path === path)
        .map((l) => l.status);
    };

    const refused = (jar: Jar) =>
      eventually(
        "the session to end",
        async () => ((await get(`${app}/private`, jar)).status === 302 ? true : undefined),
        1_000,
      );

    const connected = () =>
      eventually("the embedded outpost's control channel", async () => {
        const instance = embedded?.running("proxy")?.instance;
        if (!instance) return undefined;
        const health = await t.api("GET", `/api/v3/outposts/instances/${outpostPk}/health/`);
        return (health.body as { uid: string }[]).some((h) => h.uid === instance) ? true : undefined;
      });

    beforeAll(async () => {
      t = await startTestCore(backend);
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
      const provider = async (name: string, body: Record<string, unknown>) =>
        (await createProxyProvider(t, name, body)).pk;
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
      if (backend === "postgres") replica = await createCore(t.config, memoryLogger("warn"));
    }, 60_000);

    afterAll(async () => {
      await embedded?.stop();
      await replica?.close();
      upstream?.stop(true);
      await core?.stop();
      await t?.stop();
    });

    const login = async () =>
      (await proxyLogin({ t, coreUrl: core.url, appBase: app, get: (url, jar) => get(url, jar) })).jar;

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

    test("proxy mode takes a bearer token and an app password, and passes neither on", async () => {
      const token = await t.api("POST", "/api/v3/core/tokens/", {
        body: { identifier: "alice-proxy-app", intent: "app_password", user: alice, expiring: false },
      });
      expect(token.status, token.text).toBe(201);
      const key = (await t.api("GET", "/api/v3/core/tokens/alice-proxy-app/view_key/")).body.key as string;
      const clientId = (await t.api("GET", `/api/v3/providers/proxy/${providers[0]}/`)).body.client_id;
      const issued = await fetch(`${core.url}/application/o/token/`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: clientId,
          username: "alice",
          password: key,
          scope: "openid profile email ak_proxy",
        }),
      });
      const { access_token } = (await issued.json()) as { access_token: string };
      expect(access_token).toBeString();
      for (const authorization of [
        `Bearer ${access_token}`,
        `Basic ${Buffer.from(`alice:${key}`).toString("base64")}`,
      ]) {
        const body = await seen(await get(`${app}/api`, undefined, { authorization }));
        expect(body.headers["x-authentik-username"]).toBe("alice");
        expect(body.headers.authorization).toBeUndefined();
      }
      const wrong = `Basic ${Buffer.from("alice:wrong").toString("base64")}`;
      expect((await get(`${app}/api`, undefined, { authorization: wrong })).status).toBe(302);
    });

    test("a restarted embedded outpost keeps the browser signed in (sessions live in the store)", async () => {
      const jar = await login();
      expect((await get(`${app}/private`, jar)).status).toBe(200);
      await embedded?.stop();
      embedded = await startEmbeddedOutposts(t.core.ctx, core.url, log, core.embeddedProxy);
      await connected();
      const body = await seen(await get(`${app}/private?after=restart`, jar));
      expect(body.headers["x-authentik-username"]).toBe("alice");
    });

    test("websockets are bridged through the core's port", async () => {
      const jar = await login();
      const headers = { host: `app.local.test:${port}`, cookie: jar.header() };
      expect(await firstReply(`ws://127.0.0.1:${port}/ws`, headers, "hi")).toBe("echo:hi");
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
      await refused(jar);
    });

    test("a session outlives the outpost's cache: once its entry runs out the outpost asks the store", async () => {
      const jar = await login();
      const value = jar.cookies.get(jar.proxyCookie() as string) as string;
      // Just registered: the outpost's own cache answers.
      expect((await get(`${app}/private`, jar)).status).toBe(200);
      expect(lookups(value)).toEqual([]);
      // The cache entry has run out; the store still has the session, and it is honoured.
      const expired = await later(SESSION_TTL_MS + 1_000, () => get(`${app}/private`, jar));
      expect((await seen(expired)).headers["x-authentik-username"]).toBe("alice");
      expect(lookups(value)).toEqual([200]);
      // Gone from the store behind the outpost's back (no signal): the next lookup finds nothing.
      await t.core.ctx.store.db
        .deleteFrom("proxy_sessions")
        .where("session_hash", "=", sha256Hex(value))
        .execute();
      expect((await later(2 * (SESSION_TTL_MS + 1_000), () => get(`${app}/private`, jar))).status).toBe(302);
      expect(lookups(value)).toEqual([200, 404]);
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

    // Changes made through another replica reach the outpost only over LISTEN/NOTIFY: within a second,
    // long before its cache would have let go (SESSION_TTL_MS).
    if (backend === "postgres") {
      test("SESSION_END from another replica refuses the next request within a second", async () => {
        const jar = await login();
        expect((await get(`${app}/private`, jar)).status).toBe(200);
        const list = await onReplica("GET", "/api/v3/core/authenticated_sessions/?user__username=alice");
        const sessions = (await list.json()) as { results: { uuid: string }[] };
        expect(sessions.results.length).toBeGreaterThan(0);
        for (const s of sessions.results)
          expect((await onReplica("DELETE", `/api/v3/core/authenticated_sessions/${s.uuid}/`)).status).toBe(
            204,
          );
        await refused(jar);
      });

      test("a proxy session signed out through another replica is refused within a second", async () => {
        const jar = await login();
        const value = jar.cookies.get(jar.proxyCookie() as string) as string;
        expect((await get(`${app}/private`, jar)).status).toBe(200);
        const out = await onReplica("DELETE", `/api/v3/outposts/proxy/sessions/${sha256Hex(value)}/`);
        expect(out.status).toBe(204);
        await refused(jar);
      });

      test("providers removed and assigned through another replica stop and start the outpost", async () => {
        await assign([], "replica");
        await eventually("the embedded outpost to stop", async () =>
          embedded?.running("proxy") === undefined ? true : undefined,
        );
        expect((await get(`${app}/private`)).status).toBe(404);
        await assign(providers, "replica");
        await connected();
        expect((await get(`${app}/private`)).status).toBe(302);
      });
    }
  });
}
