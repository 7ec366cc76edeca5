import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

for (const backend of backendNames()) {
  describe(`expression policies on ${backend}`, () => {
    let t: TestCore;
    const client = () => new FlowClient((r) => t.core.app.handle(r));
    const post = async (path: string, body: unknown) => {
      const res = await t.api("POST", path, { body });
      expect(res.status, `${path}: ${res.text}`).toBe(201);
      return res.body;
    };

    beforeAll(async () => {
      t = await startTestCore(backend);
      const blocked = await post("/api/v3/core/groups/", { name: "blocked" });
      const interns = await post("/api/v3/core/groups/", { name: "interns", parents: [blocked.pk] });
      for (const [username, groups, level] of [
        ["erin", [], 3],
        ["frank", [interns.pk], 3],
        ["gina", [], 1],
      ] as const) {
        const u = await post("/api/v3/core/users/", {
          username,
          name: username,
          groups,
          attributes: { level },
        });
        await t.api("POST", `/api/v3/core/users/${u.pk}/set_password/`, {
          body: { password: `${username}-password` },
        });
      }
      // A login flow whose deny stage runs only for members of "blocked" (directly or through a child group).
      const flow = await post("/api/v3/flows/instances/", {
        slug: "guarded",
        name: "g",
        title: "g",
        designation: "authentication",
      });
      const password = await post("/api/v3/stages/password/", {
        name: "guarded-password",
        backends: ["authentik.core.auth.InbuiltBackend"],
      });
      const ident = await post("/api/v3/stages/identification/", {
        name: "guarded-ident",
        user_fields: ["username"],
        password_stage: password.pk,
      });
      const deny = await post("/api/v3/stages/deny/", {
        name: "guarded-deny",
        deny_message: "Your group may not sign in here.",
      });
      const login = await post("/api/v3/stages/user_login/", { name: "guarded-login" });
      await post("/api/v3/flows/bindings/", { target: flow.pk, stage: ident.pk, order: 10 });
      const denyBinding = await post("/api/v3/flows/bindings/", {
        target: flow.pk,
        stage: deny.pk,
        order: 20,
      });
      await post("/api/v3/flows/bindings/", { target: flow.pk, stage: login.pk, order: 30 });
      const isBlocked = await post("/api/v3/policies/expression/", {
        name: "is-blocked",
        expression: 'ak_is_group_member(request.user, "blocked") || request.user.attributes.level < 2',
      });
      await post("/api/v3/policies/bindings/", { target: denyBinding.pk, policy: isBlocked.pk, order: 0 });
    });
    afterAll(() => t.stop());

    test("the expression lets ordinary users through and denies a group (also through a child group)", async () => {
      expect((await client().login("guarded", "erin", "erin-password")).component).toBe("xak-flow-redirect");
      const frank = await client().login("guarded", "frank", "frank-password");
      expect(frank).toMatchObject({
        component: "ak-stage-access-denied",
        error_message: "Your group may not sign in here.",
      });
      const gina = await client().login("guarded", "gina", "gina-password");
      expect(gina.component).toBe("ak-stage-access-denied");
    });

    test("an expression that does not compile is refused with a field error", async () => {
      const res = await t.api("POST", "/api/v3/policies/expression/", {
        body: { name: "broken", expression: "request.user.(" },
      });
      expect(res.status).toBe(400);
      expect(res.body.expression[0]).toMatch(/Invalid CEL expression/);
      expect((await t.api("GET", "/api/v3/policies/all/?name=broken")).body.pagination.count).toBe(0);
    });

    test("a runtime failure yields failure_result and a policy_exception event", async () => {
      const flow = await post("/api/v3/flows/instances/", {
        slug: "odd",
        name: "o",
        title: "o",
        designation: "authentication",
      });
      const odd = await post("/api/v3/policies/expression/", { name: "not-boolean", expression: '"yes"' });
      await post("/api/v3/policies/bindings/", {
        target: flow.pk,
        policy: odd.pk,
        order: 0,
        failure_result: false,
      });
      expect((await client().get("odd")).component).toBe("ak-stage-access-denied");
      const events = await t.api("GET", "/api/v3/events/events/?action=policy_exception");
      expect(events.body.results[0].context.policy.name).toBe("not-boolean");
      expect(events.body.results[0].context.message).toMatch(/boolean/);

      const failOpen = await post("/api/v3/flows/instances/", {
        slug: "fail-open",
        name: "f",
        title: "f",
        designation: "authentication",
      });
      await post("/api/v3/policies/bindings/", {
        target: failOpen.pk,
        policy: odd.pk,
        order: 0,
        failure_result: true,
      });
      expect((await client().get("fail-open")).component).toBe("xak-flow-redirect");
    });
  });
}
