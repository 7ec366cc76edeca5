import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

for (const backend of backendNames()) {
  describe(`browser sessions on ${backend}`, () => {
    let t: TestCore;
    const signIn = async (username: string, password: string) => {
      const c = new FlowClient((r) => t.core.app.handle(r));
      expect((await c.login("default-authentication-flow", username, password)).component).toBe(
        "xak-flow-redirect",
      );
      return c.cookie as string;
    };
    const withCookie = (
      cookie: string,
      method: string,
      path: string,
      headers: Record<string, string> = {},
      body?: string,
    ) =>
      t.api(method, path, {
        token: null,
        headers: { cookie: `authentik_session=${cookie}`, ...headers },
        ...(body !== undefined && { body }),
      });

    beforeAll(async () => {
      t = await startTestCore(backend);
      const nora = await t.api("POST", "/api/v3/core/users/", { body: { username: "nora", name: "Nora" } });
      await t.api("POST", `/api/v3/core/users/${nora.body.pk}/set_password/`, {
        body: { password: "nora-password" },
      });
    });
    afterAll(() => t.stop());

    test("a user lists and revokes their own sessions; bulk_delete signs out everywhere", async () => {
      const one = await signIn("nora", "nora-password");
      const two = await signIn("nora", "nora-password");
      const list = await withCookie(one, "GET", "/api/v3/core/authenticated_sessions/");
      expect(list.body.pagination.count).toBe(2);
      expect(list.body.results.filter((s: { current: boolean }) => s.current)).toHaveLength(1);
      const other = list.body.results.find((s: { current: boolean }) => !s.current);
      expect(
        (await withCookie(one, "DELETE", `/api/v3/core/authenticated_sessions/${other.uuid}/`)).status,
      ).toBe(204);
      expect((await withCookie(two, "GET", "/api/v3/core/users/me/")).status).toBe(403);

      const three = await signIn("nora", "nora-password");
      const bulk = await withCookie(one, "DELETE", "/api/v3/core/authenticated_sessions/bulk_delete/");
      expect(bulk.body.deleted).toBe(2);
      expect((await withCookie(one, "GET", "/api/v3/core/users/me/")).status).toBe(403);
      expect((await withCookie(three, "GET", "/api/v3/core/users/me/")).status).toBe(403);
    });

    test("another user's sessions are not visible", async () => {
      const admin = await signIn("akadmin", "akadmin-password");
      const nora = await signIn("nora", "nora-password");
      const adminSessions = (
        await withCookie(admin, "GET", "/api/v3/core/authenticated_sessions/?user__username=akadmin")
      ).body.results;
      const res = await withCookie(
        nora,
        "DELETE",
        `/api/v3/core/authenticated_sessions/${adminSessions[0].uuid}/`,
      );
      expect(res.status).toBe(404);
      const bulk = await withCookie(
        nora,
        "DELETE",
        `/api/v3/core/authenticated_sessions/bulk_delete/?user_pks=1`,
      );
      expect(bulk.status).toBe(403);
    });

    test("cookie-authenticated writes must come from this site and carry JSON", async () => {
      const cookie = await signIn("nora", "nora-password");
      const me = (await withCookie(cookie, "GET", "/api/v3/core/users/me/")).body.user;
      const path = `/api/v3/core/users/${me.pk}/set_password/`;
      const json = { "content-type": "application/json" };
      const crossSite = await withCookie(
        cookie,
        "POST",
        path,
        { ...json, origin: "https://evil.example" },
        '{"password":"pwned-1234"}',
      );
      expect(crossSite.status).toBe(403);
      const fetchSite = await withCookie(
        cookie,
        "POST",
        path,
        { ...json, "sec-fetch-site": "cross-site" },
        '{"password":"pwned-1234"}',
      );
      expect(fetchSite.status).toBe(403);
      const form = await withCookie(
        cookie,
        "POST",
        path,
        { "content-type": "application/x-www-form-urlencoded" },
        "password=pwned-1234",
      );
      expect(form.status).toBe(403);
      // The password did not change.
      expect(
        (
          await new FlowClient((r) => t.core.app.handle(r)).login(
            "default-authentication-flow",
            "nora",
            "nora-password",
          )
        ).component,
      ).toBe("xak-flow-redirect");
      const sameSite = await withCookie(
        cookie,
        "POST",
        path,
        { ...json, origin: "http://localhost", "sec-fetch-site": "same-origin" },
        '{"password":"nora-password-2"}',
      );
      expect(sameSite.status).toBe(204);
    });

    test("/ sends visitors to the brand's login flow and signed-in users to /if/user/", async () => {
      const anonymous = await t.core.app.handle(new Request("http://localhost/"));
      expect(anonymous.status).toBe(302);
      expect(anonymous.headers.get("location")).toBe(
        "/if/flow/default-authentication-flow/?next=%2Fif%2Fuser%2F",
      );
      const cookie = await signIn("akadmin", "akadmin-password");
      const signedIn = await t.core.app.handle(
        new Request("http://localhost/", { headers: { cookie: `authentik_session=${cookie}` } }),
      );
      expect(signedIn.headers.get("location")).toBe("http://localhost/if/user/");
      const page = await t.core.app.handle(
        new Request("http://localhost/if/flow/default-authentication-flow/"),
      );
      expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
      const html = await page.text();
      expect(html).toContain('<gh-flow-executor slug="default-authentication-flow">');
      expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
      const script = await t.core.app.handle(new Request("http://localhost/static/dist/flow.js"));
      expect(script.status).toBe(200);
      const etag = script.headers.get("etag") as string;
      const again = await t.core.app.handle(
        new Request("http://localhost/static/dist/flow.js", { headers: { "if-none-match": etag } }),
      );
      expect(again.status).toBe(304);
    });
  });
}
