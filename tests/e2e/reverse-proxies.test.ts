/**
 * nginx `auth_request` and Caddy `forward_auth`, configured as the README tells users to, in front of the
 * test upstream, with a stand-in for the proxy outpost's forward-auth endpoints: no cookie → nginx
 * redirects to sign-in on the 401, Caddy hands on the outpost's 302; with the cookie the app gets the
 * X-authentik-* headers the outpost answered, never ones the client sent. The outpost's own end-to-end
 * test runs the same checks with the real outpost in place of `startFakeOutpost`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PROCESS_TIMEOUT_MS } from "../support/process.ts";
import {
  APP_HOST,
  AUTH_HOST,
  type ForwardMode,
  forwardAuthServers,
  type ReverseProxy,
} from "../support/reverse-proxies.ts";
import { type SeenRequest, startUpstream, type Upstream } from "../support/upstream.ts";

const SESSION = "gatehouse_test_session=alice";

/** What the stand-in saw of the last auth request: the original URL as the proxy reported it. */
interface FakeOutpost {
  url: string;
  lastOriginal: string | undefined;
  stop(): Promise<void>;
}

/**
 * /auth/nginx: 401, or 200 with the user's headers. /auth/caddy: a 302 to sign-in, or 200 with them
 * (sign-in starts on the app's host, or on AUTH_HOST in forward_domain). /start sets the cookie and
 * sends the browser back to `rd`.
 */
function startFakeOutpost(mode: ForwardMode): FakeOutpost {
  const fake: FakeOutpost = { url: "", lastOriginal: undefined, stop: async () => {} };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      const signedIn = (req.headers.get("cookie") ?? "").includes(SESSION);
      // Like the outpost: a header it has no value for is sent empty (X-authentik-email), except that
      // this stand-in leaves out the rest altogether, to see what the proxies make of that.
      const user = {
        "X-authentik-username": "alice",
        "X-authentik-groups": "admins|staff",
        "X-authentik-email": "",
      };
      switch (url.pathname) {
        case "/outpost.goauthentik.io/auth/nginx":
          fake.lastOriginal = req.headers.get("x-original-url") ?? undefined;
          return new Response(null, { status: signedIn ? 200 : 401, headers: signedIn ? user : {} });
        case "/outpost.goauthentik.io/auth/caddy": {
          const proto = req.headers.get("x-forwarded-proto") ?? "http";
          const host = req.headers.get("x-forwarded-host") ?? "";
          fake.lastOriginal = `${proto}://${host}${req.headers.get("x-forwarded-uri") ?? ""}`;
          if (signedIn) return new Response(null, { headers: user });
          const port = host.split(":")[1];
          const startHost = mode === "forward_single" ? host : `${AUTH_HOST}:${port}`;
          const rd = encodeURIComponent(fake.lastOriginal);
          return Response.redirect(`${proto}://${startHost}/outpost.goauthentik.io/start?rd=${rd}`, 302);
        }
        case "/outpost.goauthentik.io/start":
          return new Response(null, {
            status: 302,
            headers: {
              location: url.searchParams.get("rd") ?? "/",
              "set-cookie": `${SESSION}; Path=/; HttpOnly`,
            },
          });
        default:
          return new Response("not an outpost path\n", { status: 404 });
      }
    },
  });
  fake.url = `http://127.0.0.1:${server.port}`;
  fake.stop = () => server.stop(true);
  return fake;
}

const servers = forwardAuthServers();

for (const server of servers)
  for (const mode of ["forward_single", "forward_domain"] as const)
    describe.skipIf(!server.ready)(`${server.kind} forward auth (${mode}) in front of an app`, () => {
      let upstream: Upstream;
      let outpost: FakeOutpost;
      let proxy: ReverseProxy;
      let origin = "";

      /** A request to the app's host through the proxy, redirects not followed. */
      const get = (path: string, headers: Record<string, string> = {}, host = APP_HOST) =>
        fetch(`${proxy.url}${path}`, {
          headers: { host: `${host}:${proxy.port}`, ...headers },
          redirect: "manual",
        });

      beforeAll(async () => {
        upstream = await startUpstream();
        outpost = startFakeOutpost(mode);
        proxy = await server.start(server.config({ mode, upstream: upstream.url, outpost: outpost.url }));
        origin = `http://${APP_HOST}:${proxy.port}`;
      }, PROCESS_TIMEOUT_MS);

      afterAll(async () => {
        await proxy?.stop();
        await outpost?.stop();
        await upstream?.stop();
      }, PROCESS_TIMEOUT_MS);

      test("without a session the app is not reached and sign-in starts where the mode says", async () => {
        const res = await get("/headers?x=1", { "X-authentik-username": "mallory" });
        expect(res.status).toBe(302);
        expect(await res.text()).not.toContain("mallory");
        const location = new URL(res.headers.get("location") ?? "", origin);
        expect(location.pathname).toBe("/outpost.goauthentik.io/start");
        expect(location.searchParams.get("rd")).toBe(`${origin}/headers?x=1`);
        expect(location.hostname).toBe(mode === "forward_single" ? APP_HOST : AUTH_HOST);
        expect(outpost.lastOriginal).toBe(`${origin}/headers?x=1`);
      });

      test("sign-in on the outpost's paths sets the session cookie and returns to the app", async () => {
        const rd = `${origin}/headers`;
        const host = mode === "forward_single" ? APP_HOST : AUTH_HOST;
        const res = await get(`/outpost.goauthentik.io/start?rd=${encodeURIComponent(rd)}`, {}, host);
        expect(res.status).toBe(302);
        expect(res.headers.get("location")).toBe(rd);
        expect(res.headers.get("set-cookie")).toContain(SESSION);
      });

      test("with a session the app gets the outpost's X-authentik-* headers and the original URL", async () => {
        const res = await get("/headers?y=2", { cookie: SESSION });
        expect(res.status).toBe(200);
        const seen = (await res.json()) as SeenRequest;
        expect(seen.headers["x-authentik-username"]).toBe("alice");
        expect(seen.headers["x-authentik-groups"]).toBe("admins|staff");
        expect(seen.headers.host).toBe(`${APP_HOST}:${proxy.port}`);
        expect(new URL(seen.url).pathname + new URL(seen.url).search).toBe("/headers?y=2");
        expect(outpost.lastOriginal).toBe(`${origin}/headers?y=2`);
      });

      test("X-authentik-* headers a client sends itself never reach the app", async () => {
        const res = await get("/headers", {
          cookie: SESSION,
          "X-authentik-username": "mallory",
          "X-authentik-groups": "admins",
          "X-authentik-email": "mallory@example.test",
          "X-authentik-jwt": "mallory.forged.jwt",
          "X-authentik-meta-app": "mallory-app",
        });
        expect(res.status).toBe(200);
        const seen = (await res.json()) as SeenRequest;
        expect(seen.headers["x-authentik-username"]).toBe("alice");
        expect(seen.headers["x-authentik-groups"]).toBe("admins|staff");
        expect(seen.headers["x-authentik-email"] ?? "").toBe("");
        // Absent from the auth answer: nginx sends nothing; Caddy before 2.9 sends its placeholder text.
        expect(seen.headers["x-authentik-jwt"] ?? "").not.toContain("mallory");
        expect(seen.headers["x-authentik-meta-app"] ?? "").not.toContain("mallory");
      });

      test("a large upload reaches the app whole once signed in", async () => {
        const body = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
        const res = await fetch(`${proxy.url}/upload`, {
          method: "POST",
          headers: { host: `${APP_HOST}:${proxy.port}`, cookie: SESSION },
          body,
        });
        expect(res.status).toBe(200);
        const sha256 = new Bun.CryptoHasher("sha256").update(body).digest("hex");
        expect(await res.json()).toEqual({ bytes: body.byteLength, sha256 });
      });

      test("a websocket to the app works once signed in", async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`, {
          headers: { host: `${APP_HOST}:${proxy.port}`, cookie: SESSION },
        });
        const echoed = await new Promise<string>((resolve, reject) => {
          ws.onopen = () => ws.send("ping through the proxy");
          ws.onmessage = (event) => resolve(String(event.data));
          ws.onerror = () => reject(new Error(`websocket failed; ${server.kind} log:\n${proxy.log()}`));
        });
        ws.close();
        expect(echoed).toBe("ping through the proxy");
      });
    });
