import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

const AUTH = "default-authentication-flow";

for (const backend of backendNames()) {
  describe(`flow executor on ${backend}`, () => {
    let t: TestCore;
    const client = (headers?: Record<string, string>) =>
      new FlowClient((r) => t.core.app.handle(r), { headers });
    const me = async (cookie: string | undefined) =>
      t.api("GET", "/api/v3/core/users/me/", {
        token: null,
        headers: { cookie: `authentik_session=${cookie}` },
      });

    beforeAll(async () => {
      t = await startTestCore(backend);
      const user = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "alice", name: "Alice", email: "Alice@Example.com" },
      });
      await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
        body: { password: "alice-password" },
      });
    });
    afterAll(() => t.stop());

    test("identification then password then login, as an outpost drives it", async () => {
      const c = client();
      const first = await c.get(AUTH);
      expect(first.component).toBe("ak-stage-identification");
      expect(first.flow_info).toMatchObject({
        title: expect.any(String),
        cancel_url: "/flows/-/cancel/",
        layout: "stacked",
      });
      expect(first.user_fields).toEqual(["email", "username"]);
      // The brand's recovery flow is offered under the form.
      expect(first.recovery_url).toBe("/if/flow/default-recovery-flow/");
      const anonymousCookie = c.cookie;
      expect(anonymousCookie).toBeDefined();

      const password = await c.post(AUTH, {
        component: "ak-stage-identification",
        uid_field: "alice",
        password: "alice-password",
      });
      expect(password.component).toBe("ak-stage-password");
      expect(password.pending_user).toBe("alice");
      const done = await c.post(AUTH, { component: "ak-stage-password", password: "alice-password" });
      expect(done).toMatchObject({ component: "xak-flow-redirect", to: "/" });
      // The session id is rotated at login, and the new one authenticates the API.
      expect(c.cookie).not.toBe(anonymousCookie);
      expect((await me(anonymousCookie)).status).toBe(403);
      const res = await me(c.cookie);
      expect(res.status).toBe(200);
      expect(res.body.user.username).toBe("alice");

      const events = await t.api("GET", "/api/v3/events/events/?action=login&username=alice");
      expect(events.body.pagination.count).toBe(1);
      expect(events.body.results[0].context.auth_method).toBe("password");
    });

    test("email matches case-insensitively", async () => {
      const done = await client().login(AUTH, "alice@example.COM", "alice-password");
      expect(done.component).toBe("xak-flow-redirect");
    });

    test("a wrong password shows an error, records login_failed, and too many end the flow", async () => {
      const c = client();
      let challenge = await c.login(AUTH, "alice", "wrong");
      expect(challenge.component).toBe("ak-stage-password");
      expect(challenge.response_errors.password[0]).toEqual({ string: "Invalid password", code: "invalid" });
      for (let i = 0; i < 3; i++) {
        challenge = await c.post(AUTH, { component: "ak-stage-password", password: "wrong" });
        expect(challenge.component).toBe("ak-stage-password");
      }
      challenge = await c.post(AUTH, { component: "ak-stage-password", password: "wrong" });
      expect(challenge.component).toBe("ak-stage-access-denied");
      const failed = await t.api("GET", "/api/v3/events/events/?action=login_failed&username=alice");
      expect(failed.body.pagination.count).toBeGreaterThanOrEqual(5);
      // The denied flow is gone: the next GET starts over.
      expect((await c.get(AUTH)).component).toBe("ak-stage-identification");
    });

    test("an unknown user gets exactly what a wrong password gets", async () => {
      const unknown = await client().login(AUTH, "nobody-here", "whatever");
      const wrong = await client().login(AUTH, "alice", "whatever");
      expect(unknown.component).toBe("ak-stage-password");
      expect(unknown.response_errors).toEqual(wrong.response_errors);
    });

    test("an app password works in the password stage", async () => {
      const alice = (await t.api("GET", "/api/v3/core/users/?username=alice")).body.results[0];
      const token = await t.api("POST", "/api/v3/core/tokens/", {
        body: { identifier: "alice-app", intent: "app_password", user: alice.pk, expiring: false },
      });
      const done = await client().login(AUTH, "alice", token.body.key);
      expect(done.component).toBe("xak-flow-redirect");
    });

    test("only a relative next is followed", async () => {
      const ok = await client().login(AUTH, "alice", "alice-password", "next=%2Fif%2Fuser%2F");
      expect(ok.to).toBe("/if/user/");
      for (const evil of [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
      ]) {
        const res = await client().login(AUTH, "alice", "alice-password", `next=${encodeURIComponent(evil)}`);
        expect(res.to).toBe("/");
      }
    });

    test("the invalidation flow ends the session", async () => {
      const c = client();
      await c.login(AUTH, "alice", "alice-password");
      const session = c.cookie;
      expect((await me(session)).status).toBe(200);
      const out = await c.get("default-invalidation-flow");
      expect(out.component).toBe("xak-flow-redirect");
      expect((await me(session)).status).toBe(403);
      const events = await t.api("GET", "/api/v3/events/events/?action=logout&username=alice");
      expect(events.body.pagination.count).toBeGreaterThanOrEqual(1);
    });

    test("flow state lives in the store: a restarted core continues the flow", async () => {
      const c = client();
      expect((await c.post(AUTH, { uid_field: "alice", password: "alice-password" })).component).toBe(
        "ak-stage-password",
      );
      t = await t.restart();
      const done = await c.post(AUTH, { component: "ak-stage-password", password: "alice-password" });
      expect(done.component).toBe("xak-flow-redirect");
    });

    test("bad requests: unknown flow 404, non-JSON answer 400", async () => {
      const missing = await t.core.app.handle(
        new Request("http://localhost/api/v3/flows/executor/nope/?query="),
      );
      expect(missing.status).toBe(404);
      const form = await t.core.app.handle(
        new Request("http://localhost/api/v3/flows/executor/default-authentication-flow/?query=", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: "uid_field=alice",
        }),
      );
      expect(form.status).toBe(400);
    });

    test("X-authentik-remote-ip is honoured only with an outpost's token", async () => {
      // akadmin's token is not an internal service account's: the header is ignored.
      const c = client({ "x-authentik-outpost-token": ADMIN_TOKEN, "x-authentik-remote-ip": "203.0.113.9" });
      await c.login(AUTH, "alice", "wrong-again");
      const events = await t.api("GET", "/api/v3/events/events/?action=login_failed&client_ip=203.0.113.9");
      expect(events.body.pagination.count).toBe(0);

      // An internal service account's token (what an outpost holds) makes it count.
      const outpost = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "ak-outpost-test", name: "Outpost", type: "internal_service_account" },
      });
      const key = (
        await t.api("POST", "/api/v3/core/tokens/", {
          body: { identifier: "ak-outpost-test-api", intent: "api", user: outpost.body.pk, expiring: false },
        })
      ).body.key as string;
      const o = client({ "x-authentik-outpost-token": key, "x-authentik-remote-ip": "203.0.113.9" });
      await o.login(AUTH, "alice", "wrong-again");
      const counted = await t.api("GET", "/api/v3/events/events/?action=login_failed&client_ip=203.0.113.9");
      expect(counted.body.pagination.count).toBe(1);
    });
  });
}
