/**
 * The proxy outpost end to end: a real core over HTTP, the outpost in-process through the shared
 * runtime (its control channel on the core's websocket), and a small upstream that echoes what it saw.
 * A browser is played with fetch and a cookie jar: login through the core's authorize endpoint and flow,
 * the callback, the upstream seeing the X-authentik-* headers, sign_out, SESSION_END, a restart keeping
 * the session, bearer and basic auth, forward auth for nginx, header smuggling, and a dead upstream.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { type RunningServer, startServer } from "../../core/src/http/server.ts";
import { HEADER_TTL_MS } from "../../outposts/proxy/auth.ts";
import { proxyKind } from "../../outposts/proxy/kind.ts";
import { SESSION_TTL_MS, STALE_GRACE_MS } from "../../outposts/proxy/session.ts";
import { selfSignedCertificate } from "../../outposts/runtime/certificate.ts";
import { type RunningOutpost, runOutpost } from "../../outposts/runtime/runtime.ts";
import { memoryLogger } from "../../shared/log.ts";
import { Jar } from "../support/cookie-jar.ts";
import { startTestCore, type TestCore } from "../support/core.ts";
import { eventually } from "../support/polling.ts";
import { freePort } from "../support/process.ts";
import { proxyLogin } from "../support/proxy-login.ts";
import { createProxyProvider } from "../support/proxy-outpost.ts";
import { firstReply } from "../support/websocket.ts";

describe("the proxy outpost against a real core", () => {
  let t: TestCore;
  let core: RunningServer;
  let upstream: Server<undefined>;
  let outpost: RunningOutpost | undefined;
  let outpostPort = 0;
  let dataDir = "";
  let outpostUuid = "";
  let outpostToken = "";
  let base = "";
  let alice = 0;
  let appPassword = "";
  let proxyProvider: { pk: number; client_id: string };
  const log = memoryLogger("debug");

  let kind: ReturnType<typeof proxyKind> | undefined;
  let tlsUpstream: Server<undefined> | undefined;
  /** Added to the outpost's clock: moves its caches along without waiting. */
  let clockSkew = 0;
  /** Set when the upstream's /stream lost its reader (the client went away mid-stream). */
  let streamCancelled = false;
  const startOutpost = async () => {
    kind = proxyKind({
      host: core.url,
      hostBrowser: "",
      insecure: false,
      listen: { hostname: "127.0.0.1", port: outpostPort },
      listenTls: { hostname: "127.0.0.1", port: 0 },
      upstreamTimeoutMs: 2_000,
      now: () => Date.now() + clockSkew,
    });
    outpost = await runOutpost(
      kind,
      {
        host: core.url,
        token: outpostToken,
        insecure: false,
        host_browser: "",
        data_dir: dataDir,
        "listen.metrics": "127.0.0.1:0",
        "log.level": "debug",
      },
      { log, signals: false, metrics: false, reloadOffsetMs: 0 },
    );
    // The control channel is up once the core lists this instance as healthy.
    await eventually("the control channel", async () => {
      const health = await t.api("GET", `/api/v3/outposts/instances/${outpostUuid}/health/`);
      return (health.body as { uid: string }[]).some((h) => h.uid === outpost?.instance) ? true : undefined;
    });
  };

  beforeAll(async () => {
    t = await startTestCore("sqlite");
    core = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
    outpostPort = await freePort();
    base = `http://127.0.0.1:${outpostPort}`;
    dataDir = mkdtempSync(join(tmpdir(), "gatehouse-proxy-"));
    upstream = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 0,
      async fetch(req, srv) {
        const url = new URL(req.url);
        if (url.pathname === "/stall") return new Promise<Response>(() => {});
        if (url.pathname === "/stream") {
          // One chunk at once, then one every 20 ms until the reader goes away.
          let timer: ReturnType<typeof setInterval> | undefined;
          const stream = new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("first\n"));
              timer = setInterval(() => {
                try {
                  controller.enqueue(new TextEncoder().encode("more\n"));
                } catch {
                  clearInterval(timer);
                }
              }, 20);
            },
            cancel() {
              clearInterval(timer);
              streamCancelled = true;
            },
          });
          return new Response(stream, { headers: { "content-type": "text/plain" } });
        }
        if (url.pathname === "/upload") {
          const body = new Uint8Array(await req.arrayBuffer());
          return Response.json({
            bytes: body.length,
            sha256: new Bun.CryptoHasher("sha256").update(body).digest("hex"),
          });
        }
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
    const provider = (name: string, body: Record<string, unknown>) => createProxyProvider(t, name, body);
    proxyProvider = await provider("app", {
      mode: "proxy",
      external_host: base,
      internal_host: `http://127.0.0.1:${upstream.port}`,
    });
    const forward = await provider("fwd", { mode: "forward_single", external_host: "http://fwd.test" });
    const dead = await provider("dead", {
      mode: "proxy",
      external_host: "http://dead.test",
      internal_host: `http://127.0.0.1:${await freePort()}`,
      skip_path_regex: "^/public\n^/health$",
    });
    // An upstream on HTTPS with a self-signed certificate: refused when verified, used when not.
    const cert = await selfSignedCertificate("upstream.test", ["127.0.0.1"]);
    tlsUpstream = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: cert.cert, key: cert.key },
      fetch: () => Response.json({ over: "tls" }),
    });
    const tlsProviders = [];
    for (const [name, verify] of [
      ["strict", true],
      ["lax", false],
    ] as const)
      tlsProviders.push(
        await provider(name, {
          mode: "proxy",
          external_host: `http://${name}.test`,
          internal_host: `https://127.0.0.1:${tlsUpstream.port}`,
          internal_host_ssl_validation: verify,
          skip_path_regex: "^/",
        }),
      );
    const created = await t.api("POST", "/api/v3/outposts/instances/", {
      body: {
        name: "edge",
        type: "proxy",
        providers: [proxyProvider.pk, forward.pk, dead.pk, ...tlsProviders.map((p) => p.pk)],
        config: {},
      },
    });
    expect(created.status, created.text).toBe(201);
    outpostUuid = created.body.pk;
    outpostToken = (await t.api("GET", `/api/v3/core/tokens/ak-outpost-${outpostUuid}-api/view_key/`)).body
      .key;
    const user = await t.api("POST", "/api/v3/core/users/", {
      body: {
        username: "alice",
        name: "Alice Liddell",
        email: "alice@example.test",
        attributes: { additionalHeaders: { "X-Team": "wonderland", "X-Bad": "a\r\nInjected: 1" } },
      },
    });
    alice = user.body.pk;
    await t.api("POST", `/api/v3/core/users/${alice}/set_password/`, {
      body: { password: "alice-password" },
    });
    const group = await t.api("POST", "/api/v3/core/groups/", { body: { name: "readers", users: [alice] } });
    expect(group.status, group.text).toBe(201);
    await t.api("POST", "/api/v3/core/tokens/", {
      body: { identifier: "alice-app", intent: "app_password", user: alice, expiring: false },
    });
    appPassword = (await t.api("GET", "/api/v3/core/tokens/alice-app/view_key/")).body.key;
    await startOutpost();
  }, 60_000);

  afterAll(async () => {
    await outpost?.stop();
    upstream?.stop(true);
    tlsUpstream?.stop(true);
    await core?.stop();
    await t?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const get = (url: string, jar?: Jar, headers: Record<string, string> = {}) =>
    fetch(url, {
      redirect: "manual",
      headers: { ...(jar && { cookie: jar.header() }), ...headers },
    }).then((res) => {
      jar?.keep(res);
      return res;
    });

  /** A browser that signs in at the core, then follows the outpost's login to the app. */
  const login = (callbackOn?: string) =>
    proxyLogin({ t, coreUrl: core.url, appBase: base, get: (url, jar) => get(url, jar), callbackOn });

  const seen = async (res: Response) => {
    expect(res.status).toBe(200);
    return (await res.json()) as { path: string; headers: Record<string, string> };
  };

  test("a browser logs in through the core and the upstream sees who it is", async () => {
    const { jar } = await login();
    const res = await get(`${base}/private?x=1`, jar);
    const body = await seen(res);
    expect(body.path).toBe("/private?x=1");
    const h = body.headers;
    expect(h["x-authentik-username"]).toBe("alice");
    expect(h["x-authentik-email"]).toBe("alice@example.test");
    expect(h["x-authentik-name"]).toBe("Alice Liddell");
    expect(h["x-authentik-groups"]).toContain("readers");
    expect(h["x-authentik-uid"]).toBeString();
    expect(h["x-authentik-jwt"]?.split(".")).toHaveLength(3);
    expect(h["x-authentik-meta-app"]).toBe("app");
    expect(h["x-authentik-meta-provider"]).toBe("app");
    expect(h["x-authentik-meta-outpost"]).toBe("edge");
    expect(h["x-authentik-meta-version"]).toStartWith("goauthentik.io/outpost/");
    expect(h["x-authentik-meta-jwks"]).toContain("/application/o/app/jwks/");
    expect(h["x-team"]).toBe("wonderland");
    expect(h["x-bad"]).toBeUndefined();
    expect(h["x-forwarded-host"]).toBe(`127.0.0.1:${outpostPort}`);
    // The session secret stays with the outpost.
    expect(h.cookie ?? "").not.toContain(jar.proxyCookie() as string);
  });

  test("X-authentik-* headers a client sends are dropped, in every spelling", async () => {
    const { jar } = await login();
    const res = await get(`${base}/headers`, jar, {
      "X-authentik-username": "mallory",
      X_authentik_username: "mallory",
      "x-AUTHENTIK-groups": "admins",
      "X-authentik-meta-extra": "forged",
    });
    const h = (await seen(res)).headers;
    expect(h["x-authentik-username"]).toBe("alice");
    expect(h["x-authentik-groups"]).not.toContain("admins");
    expect(h.x_authentik_username).toBeUndefined();
    expect(h["x-authentik-meta-extra"]).toBeUndefined();
    // Unauthenticated, the forged headers never reach the upstream either: a redirect to login.
    expect((await get(`${base}/headers`, undefined, { "X-authentik-username": "mallory" })).status).toBe(302);
  });

  test("sign_out ends the session in the core and sends the browser to the end-session endpoint", async () => {
    const { jar } = await login();
    const cookie = jar.proxyCookie() as string;
    const value = jar.cookies.get(cookie) as string;
    const out = await get(`${base}/outpost.goauthentik.io/sign_out`, jar);
    expect(out.status).toBe(302);
    expect(out.headers.get("location")).toBe(`${core.url}/application/o/app/end-session/`);
    expect(out.headers.getSetCookie().join()).toMatch(new RegExp(`${cookie}=; Path=/; Max-Age=0`));
    // The old cookie value opens nothing any more, here or on any other outpost.
    const replay = await get(`${base}/private`, undefined, { cookie: `${cookie}=${value}` });
    expect(replay.status).toBe(302);
    const hash = new Bun.CryptoHasher("sha256").update(value).digest("hex");
    expect((await t.api("GET", `/api/v3/outposts/proxy/sessions/${hash}/`)).status).toBe(404);
  });

  test("a session signed out elsewhere (another replica, the API) is refused here within a second", async () => {
    const { jar } = await login();
    // Now in this outpost's short cache.
    expect((await get(`${base}/private`, jar)).status).toBe(200);
    const value = jar.cookies.get(jar.proxyCookie() as string) as string;
    const hash = new Bun.CryptoHasher("sha256").update(value).digest("hex");
    // What another replica's sign_out does: delete it in the core.
    expect((await t.api("DELETE", `/api/v3/outposts/proxy/sessions/${hash}/`)).status).toBe(204);
    await eventually(
      "the signed-out session to be refused",
      async () => ((await get(`${base}/private`, jar)).status === 302 ? true : undefined),
      1_000,
    );
  });

  test("ending the core session (SESSION_END) refuses the next request within a second", async () => {
    const { jar } = await login();
    expect((await get(`${base}/private`, jar)).status).toBe(200);
    const sessions = await t.api("GET", "/api/v3/core/authenticated_sessions/?user__username=alice");
    for (const s of sessions.body.results as { uuid: string }[])
      expect((await t.api("DELETE", `/api/v3/core/authenticated_sessions/${s.uuid}/`)).status).toBe(204);
    await eventually(
      "the session to end",
      async () => ((await get(`${base}/private`, jar)).status === 302 ? true : undefined),
      1_000,
    );
  });

  test("a restarted outpost keeps the session (sessions live in the core)", async () => {
    const { jar } = await login();
    expect((await get(`${base}/private`, jar)).status).toBe(200);
    await outpost?.stop();
    await startOutpost();
    const h = (await seen(await get(`${base}/private`, jar))).headers;
    expect(h["x-authentik-username"]).toBe("alice");
  });

  test("the sign-in callback also works on the app's own path with authentik's marker", async () => {
    const { jar } = await login("/");
    expect((await seen(await get(`${base}/private`, jar))).headers["x-authentik-username"]).toBe("alice");
    // Without the state it is just a request for the app (here: a sign-in).
    expect((await get(`${base}/?X-authentik-auth-callback=true`, new Jar())).status).toBe(302);
  });

  test("forged, expired or foreign state and tampered cookies get clear errors", async () => {
    const { jar } = await login();
    const forged = await get(
      `${base}/outpost.goauthentik.io/callback?code=x&state=eyJhbGciOiJIUzI1NiJ9.e30.x`,
      jar,
    );
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain("not valid");
    // A state started by another browser is refused here.
    const other = new Jar();
    const started = await get(`${base}/outpost.goauthentik.io/start?rd=/x`, other);
    const state = new URL(started.headers.get("location") ?? "").searchParams.get("state") ?? "";
    const stolen = await get(`${base}/outpost.goauthentik.io/callback?code=x&state=${state}`, jar);
    expect(stolen.status).toBe(400);
    expect(await stolen.text()).toContain("another browser");
    // An open redirect is not possible: the target falls back to the external host.
    const evil = await get(
      `${base}/outpost.goauthentik.io/start?rd=${encodeURIComponent("https://evil.test/")}`,
      other,
    );
    expect(evil.status).toBe(302);
    const tampered = await get(`${base}/private`, undefined, {
      cookie: `${jar.proxyCookie()}=${"A".repeat(43)}`,
    });
    expect(tampered.status).toBe(302);
    const crlf = await get(`${base}/private`, undefined, { cookie: `${jar.proxyCookie()}=%0d%0aX: 1` });
    expect(crlf.status).toBe(302);
  });

  test("bearer tokens and basic credentials (app password) are accepted and not passed on", async () => {
    const token = await fetch(`${core.url}/application/o/token/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: proxyProvider.client_id,
        username: "alice",
        password: appPassword,
        scope: "openid profile email ak_proxy",
      }),
    });
    const { access_token } = (await token.json()) as { access_token: string };
    expect(access_token).toBeString();
    const bearer = await seen(
      await get(`${base}/api`, undefined, { authorization: `Bearer ${access_token}` }),
    );
    expect(bearer.headers["x-authentik-username"]).toBe("alice");
    expect(bearer.headers.authorization).toBeUndefined();
    const basic = `Basic ${Buffer.from(`alice:${appPassword}`).toString("base64")}`;
    const viaBasic = await seen(await get(`${base}/api`, undefined, { authorization: basic }));
    expect(viaBasic.headers["x-authentik-username"]).toBe("alice");
    expect(viaBasic.headers.authorization).toBeUndefined();
    const tokenAsPassword = `Basic ${Buffer.from(`goauthentik.io/token:${access_token}`).toString("base64")}`;
    expect((await get(`${base}/api`, undefined, { authorization: tokenAsPassword })).status).toBe(200);
    const wrong = `Basic ${Buffer.from("alice:wrong").toString("base64")}`;
    expect((await get(`${base}/api`, undefined, { authorization: wrong })).status).toBe(302);
    expect((await get(`${base}/api`, undefined, { authorization: "Bearer nope" })).status).toBe(302);
  });

  test("forward_single: /auth/nginx answers 200 with headers or 401; missing headers are reported", async () => {
    const nginx = `${base}/outpost.goauthentik.io/auth/nginx`;
    const anonymous = await get(nginx, undefined, {
      host: "fwd.test",
      "x-original-url": "http://fwd.test/a",
    });
    expect(anonymous.status).toBe(401);
    const basic = `Basic ${Buffer.from(`alice:${appPassword}`).toString("base64")}`;
    const ok = await get(nginx, undefined, {
      host: "fwd.test",
      "x-original-url": "http://fwd.test/a",
      authorization: basic,
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-authentik-username")).toBe("alice");
    expect(ok.headers.get("x-authentik-meta-app")).toBe("fwd");
    // The client's User-Agent comes back with each answer, and only with its own.
    const ask = (agent: string) =>
      get(nginx, undefined, {
        host: "fwd.test",
        "x-original-url": "http://fwd.test/a",
        authorization: basic,
        "user-agent": agent,
      });
    expect((await ask("first/1.0")).headers.get("user-agent")).toBe("first/1.0");
    const second = await ask("second/2.0");
    expect(second.headers.get("user-agent")).toBe("second/2.0");
    expect(second.headers.get("x-authentik-username")).toBe("alice");
    const traefik = await get(`${base}/outpost.goauthentik.io/auth/traefik`, undefined, {
      host: "fwd.test",
      "x-forwarded-proto": "http",
      "x-forwarded-host": "fwd.test",
      "x-forwarded-uri": "/b?c=1",
    });
    expect(traefik.status).toBe(307);
    expect(traefik.headers.get("location")).toBe(
      `http://fwd.test/outpost.goauthentik.io/start?rd=${encodeURIComponent("http://fwd.test/b?c=1")}`,
    );
    const misconfigured = await get(nginx, undefined, { host: "fwd.test" });
    expect(misconfigured.status).toBe(500);
    await eventually("the configuration_error event", async () => {
      const events = await t.api("GET", "/api/v3/events/events/?action=configuration_error");
      return events.body.results.length > 0 ? true : undefined;
    });
  });

  test("a dead upstream gives a 502 page at once; allow-listed paths skip the login", async () => {
    const started = Date.now();
    const res = await get("http://127.0.0.1:1/", undefined, {}).catch(() => undefined);
    expect(res).toBeUndefined();
    const dead = await get(`${base}/public/page`, undefined, { host: "dead.test" });
    expect(dead.status).toBe(502);
    expect(await dead.text()).toContain("cannot be reached");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await get(`${base}/other`, undefined, { host: "dead.test" })).status).toBe(302);
  });

  test("uploads stream through, a stalled upstream is a 504, and metrics count outcomes", async () => {
    const { jar } = await login();
    const body = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    const res = await fetch(`${base}/upload`, {
      method: "POST",
      headers: { cookie: jar.header(), "content-type": "application/octet-stream", expect: "100-continue" },
      body,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      bytes: body.length,
      sha256: new Bun.CryptoHasher("sha256").update(body).digest("hex"),
    });
    const stalled = await get(`${base}/stall`, jar);
    expect(stalled.status).toBe(504);
    const metrics = (await outpost?.metrics()) ?? "";
    expect(metrics).toMatch(/gatehouse_proxy_requests_total\{outcome="upstream_timeout"\} 1/);
    expect(metrics).toMatch(/gatehouse_proxy_requests_total\{outcome="proxied"\} \d+/);
    expect(metrics).toMatch(/gatehouse_proxy_cached_sessions \d+/);
  });

  test("a client that sends Expect: 100-continue (curl) gets its upload through", async () => {
    const { jar } = await login();
    const file = join(dataDir, "upload.bin");
    const body = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 7) % 256);
    await Bun.write(file, body);
    const curl = Bun.spawn(
      [
        "curl",
        "-sS",
        "--max-time",
        "10",
        "-H",
        `cookie: ${jar.header()}`,
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        `@${file}`,
        `${base}/upload`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const out = await new Response(curl.stdout).text();
    expect(await curl.exited, await new Response(curl.stderr).text()).toBe(0);
    expect(JSON.parse(out)).toEqual({
      bytes: body.length,
      sha256: new Bun.CryptoHasher("sha256").update(body).digest("hex"),
    });
  });

  test("a client that goes away mid-stream ends the upstream request; the outpost carries on", async () => {
    const { jar } = await login();
    streamCancelled = false;
    const controller = new AbortController();
    const res = await fetch(`${base}/stream`, {
      headers: { cookie: jar.header() },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(new TextDecoder().decode(first?.value)).toContain("first");
    controller.abort();
    await eventually("the upstream to see the reader gone", async () => (streamCancelled ? true : undefined));
    expect((await get(`${base}/private`, jar)).status).toBe(200);
    expect((await fetch(`${base}/outpost.goauthentik.io/ping`)).status).toBe(204);
  });

  test("an HTTPS upstream's certificate is verified unless the provider turns that off", async () => {
    const strict = await get(`${base}/anything`, undefined, { host: "strict.test" });
    expect(strict.status).toBe(502);
    const lax = await get(`${base}/anything`, undefined, { host: "lax.test" });
    expect(lax.status).toBe(200);
    expect(await lax.json()).toEqual({ over: "tls" });
  });

  test("the HTTPS listener answers with a self-signed certificate by default", async () => {
    const port = kind?.server()?.tlsPort;
    const res = await fetch(`https://127.0.0.1:${port}/private`, {
      redirect: "manual",
      headers: { host: `127.0.0.1:${outpostPort}` },
      tls: { rejectUnauthorized: false },
    });
    expect(res.status).toBe(302);
    const ping = await fetch(`https://127.0.0.1:${port}/outpost.goauthentik.io/ping`, {
      tls: { rejectUnauthorized: false },
    });
    expect(ping.status).toBe(204);
  });

  test("websockets are bridged to the upstream for a signed-in user", async () => {
    const { jar } = await login();
    const reply = await firstReply(`ws://127.0.0.1:${outpostPort}/ws`, { cookie: jar.header() }, "hi");
    expect(reply).toBe("echo:hi");
  });

  test("oversized, smuggling and malformed requests are refused on the wire; the outpost carries on", async () => {
    /** Writes `data` on a fresh connection and returns what comes back until the outpost closes it. */
    const raw = (data: string) =>
      new Promise<string>((resolve, reject) => {
        let out = "";
        void Bun.connect({
          hostname: "127.0.0.1",
          port: outpostPort,
          socket: {
            open: (socket) => void socket.write(data),
            data: (_socket, chunk) => {
              out += Buffer.from(chunk).toString("latin1");
            },
            close: () => resolve(out),
            error: (_socket, err) => reject(err),
          },
        });
      });
    const host = `host: 127.0.0.1:${outpostPort}\r\n`;
    const big = await raw(`GET /private HTTP/1.1\r\n${host}x-big: ${"a".repeat(100_000)}\r\n\r\n`);
    expect(big).toStartWith("HTTP/1.1 431 ");
    // Content-Length beside Transfer-Encoding is the classic request-smuggling shape.
    const smuggled = await raw(
      `POST /upload HTTP/1.1\r\n${host}content-length: 30\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /private HTTP/1.1\r\n\r\n`,
    );
    expect(smuggled).toStartWith("HTTP/1.1 400 ");
    expect(smuggled.match(/HTTP\/1\.1/g)).toHaveLength(1);
    const folded = await raw(`GET /private HTTP/1.1\r\n${host}x-a: 1\r\n folded\r\n\r\n`);
    expect(folded).toStartWith("HTTP/1.1 400 ");
    const { jar } = await login();
    expect((await get(`${base}/private`, jar)).status).toBe(200);
  });

  test("while the core is away, a signed-in user keeps working and a stranger gets a 503 page", async () => {
    const { jar } = await login();
    expect((await get(`${base}/private`, jar)).status).toBe(200);
    const basic = `Basic ${Buffer.from(`alice:${appPassword}`).toString("base64")}`;
    expect((await get(`${base}/api`, undefined, { authorization: basic })).status).toBe(200);
    const port = Number(new URL(core.url).port);
    await core.stop();
    try {
      // Past the outpost's few seconds of cached answers: the next lookup finds the core gone.
      clockSkew += SESSION_TTL_MS + 1_000;
      const kept = await get(`${base}/private`, jar);
      expect((await seen(kept)).headers["x-authentik-username"]).toBe("alice");
      const stranger = await get(`${base}/private`, undefined, {
        cookie: `${jar.proxyCookie()}=${"B".repeat(43)}`,
      });
      expect(stranger.status).toBe(503);
      expect(await stranger.text()).toContain("Sign-in unavailable");
      // Credentials in a header likewise: the app password checked before passes; an unknown one is
      // neither accepted nor sent to a login page that cannot answer.
      clockSkew += HEADER_TTL_MS;
      const viaBasic = await get(`${base}/api`, undefined, { authorization: basic });
      expect((await seen(viaBasic)).headers["x-authentik-username"]).toBe("alice");
      const other = `Basic ${Buffer.from("alice:not-checked-before").toString("base64")}`;
      expect((await get(`${base}/api`, undefined, { authorization: other })).status).toBe(503);
      // The grace has an end: a session the core has not confirmed for that long is not vouched for.
      clockSkew += STALE_GRACE_MS;
      expect((await get(`${base}/private`, jar)).status).toBe(503);
    } finally {
      core = startServer(t.core, log, `127.0.0.1:${port}`);
    }
    await eventually("the core answering again", async () =>
      (await get(`${base}/private`, jar)).status === 200 ? true : undefined,
    );
  });
});
