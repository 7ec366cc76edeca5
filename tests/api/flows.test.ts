import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

for (const backend of backendNames()) {
  describe(`flows, stages and policies API on ${backend}`, () => {
    let t: TestCore;
    let bob: { pk: number };
    let vip: { pk: string };
    const client = () => new FlowClient((r) => t.core.app.handle(r));
    const created = async (path: string, body: unknown) => {
      const res = await t.api("POST", path, { body });
      expect(res.status, `${path} ${res.text}`).toBe(201);
      return res.body;
    };

    beforeAll(async () => {
      t = await startTestCore(backend);
      bob = (await t.api("POST", "/api/v3/core/users/", { body: { username: "bob", name: "Bob" } })).body;
      await t.api("POST", `/api/v3/core/users/${bob.pk}/set_password/`, {
        body: { password: "bob-password" },
      });
      vip = (await t.api("POST", "/api/v3/core/groups/", { body: { name: "vip" } })).body;
    });
    afterAll(() => t.stop());

    /** A one-step login flow: identification with the password inline, then user login. */
    async function loginFlow(slug: string, extra: Record<string, unknown> = {}) {
      const flow = await created("/api/v3/flows/instances/", {
        slug,
        name: slug,
        title: slug,
        designation: "authentication",
        ...extra,
      });
      const password = await created("/api/v3/stages/password/", {
        name: `${slug}-password`,
        backends: ["authentik.core.auth.InbuiltBackend"],
      });
      const ident = await created("/api/v3/stages/identification/", {
        name: `${slug}-ident`,
        user_fields: ["username"],
        password_stage: password.pk,
      });
      const login = await created("/api/v3/stages/user_login/", { name: `${slug}-login` });
      const identBinding = await created("/api/v3/flows/bindings/", {
        target: flow.pk,
        stage: ident.pk,
        order: 10,
      });
      const loginBinding = await created("/api/v3/flows/bindings/", {
        target: flow.pk,
        stage: login.pk,
        order: 20,
      });
      return { flow, ident, login, identBinding, loginBinding };
    }

    test("a flow built over the API runs through the executor", async () => {
      const { flow, ident } = await loginFlow("custom-login");
      expect(flow).toMatchObject({
        slug: "custom-login",
        designation: "authentication",
        policy_engine_mode: "any",
        layout: "stacked",
      });
      expect(ident).toMatchObject({
        component: "ak-stage-identification-form",
        meta_model_name: "authentik_stages_identification.identificationstage",
        case_insensitive_matching: true,
        pretend_user_exists: true,
      });
      const c = client();
      const first = await c.get("custom-login");
      expect(first).toMatchObject({
        component: "ak-stage-identification",
        password_fields: true,
        user_fields: ["username"],
      });
      const done = await c.post("custom-login", { uid_field: "bob", password: "bob-password" });
      expect(done.component).toBe("xak-flow-redirect");
      const wrong = await client().post("custom-login", { uid_field: "bob", password: "nope" });
      expect(wrong.component).toBe("ak-stage-identification");
      expect(wrong.response_errors.non_field_errors[0].string).toBe("Failed to authenticate.");

      const fetched = await t.api("GET", "/api/v3/flows/instances/custom-login/");
      expect(fetched.body.stages).toHaveLength(2);
      const stages = await t.api("GET", "/api/v3/stages/all/?search=custom-login");
      expect(stages.body.pagination.count).toBe(3);
      const withFlow = stages.body.results.find((s: { name: string }) => s.name === "custom-login-ident");
      expect(withFlow.flow_set.map((f: { slug: string }) => f.slug)).toEqual(["custom-login"]);
    });

    test("a group binding on a flow admits members only", async () => {
      const { flow } = await loginFlow("vip-login");
      await created("/api/v3/policies/bindings/", { target: flow.pk, group: vip.pk, order: 0 });
      // Policies on the flow are checked when the plan is made, against the session's user.
      const anonymous = await client().get("vip-login");
      expect(anonymous.component).toBe("ak-stage-access-denied");

      const c = client();
      await c.login("default-authentication-flow", "bob", "bob-password");
      expect((await c.get("vip-login")).component).toBe("ak-stage-access-denied");
      await t.api("POST", `/api/v3/core/groups/${vip.pk}/add_user/`, { body: { pk: bob.pk } });
      const member = client();
      await member.login("default-authentication-flow", "bob", "bob-password");
      expect((await member.get("vip-login")).component).toBe("ak-stage-identification");
    });

    test("stage-binding policies skip a stage; negate flips them", async () => {
      const flow = await created("/api/v3/flows/instances/", {
        slug: "skippy",
        name: "s",
        title: "s",
        designation: "authentication",
      });
      const dummy = await created("/api/v3/stages/dummy/", { name: "skippy-dummy" });
      const deny = await created("/api/v3/stages/deny/", { name: "skippy-deny", deny_message: "Not today." });
      const dummyBinding = await created("/api/v3/flows/bindings/", {
        target: flow.pk,
        stage: dummy.pk,
        order: 1,
        evaluate_on_plan: true,
      });
      await created("/api/v3/flows/bindings/", { target: flow.pk, stage: deny.pk, order: 2 });
      const never = await created("/api/v3/policies/dummy/", { name: "never", result: false });
      expect(never).toMatchObject({
        result: false,
        bound_to: 0,
        meta_model_name: "authentik_policies_dummy.dummypolicy",
      });
      const binding = await created("/api/v3/policies/bindings/", {
        target: dummyBinding.pk,
        policy: never.pk,
        order: 0,
      });
      expect(binding.policy_obj.name).toBe("never");

      // The dummy stage is planned out, so the deny stage answers straight away.
      const denied = await client().get("skippy");
      expect(denied).toMatchObject({ component: "ak-stage-access-denied", error_message: "Not today." });

      await t.api("PATCH", `/api/v3/policies/bindings/${binding.pk}/`, { body: { negate: true } });
      const c = client();
      expect((await c.get("skippy")).component).toBe("ak-stage-dummy");
      expect((await c.post("skippy", { component: "ak-stage-dummy" })).component).toBe(
        "ak-stage-access-denied",
      );
    });

    test("a failing stage shows ak-stage-flow-error and records configuration_error", async () => {
      const flow = await created("/api/v3/flows/instances/", {
        slug: "broken",
        name: "b",
        title: "b",
        designation: "authentication",
      });
      const dummy = await created("/api/v3/stages/dummy/", { name: "broken-dummy", throw_error: true });
      await created("/api/v3/flows/bindings/", { target: flow.pk, stage: dummy.pk, order: 1 });
      const c = client();
      expect((await c.get("broken")).component).toBe("ak-stage-dummy");
      const error = await c.post("broken", {});
      expect(error.component).toBe("ak-stage-flow-error");
      expect(error.request_id).toEqual(expect.any(String));
      expect(JSON.stringify(error)).not.toContain("on purpose");
      const events = await t.api("GET", "/api/v3/events/events/?action=configuration_error");
      expect(events.body.results[0].context.flow).toBe("broken");
    });

    test("require_outpost and require_authenticated flows refuse other callers", async () => {
      await created("/api/v3/flows/instances/", {
        slug: "outposts-only",
        name: "o",
        title: "o",
        designation: "authentication",
        authentication: "require_outpost",
      });
      expect((await client().get("outposts-only")).component).toBe("ak-stage-access-denied");
      await created("/api/v3/flows/instances/", {
        slug: "members",
        name: "m",
        title: "m",
        designation: "authentication",
        authentication: "require_authenticated",
      });
      expect((await client().get("members")).component).toBe("ak-stage-access-denied");
    });

    test("bad input is refused with field errors and nothing written", async () => {
      const before = (await t.api("GET", "/api/v3/stages/all/")).body.pagination.count;
      const badStage = await t.api("POST", "/api/v3/stages/identification/", {
        body: { name: "x", favourite: 1 },
      });
      expect(badStage.status).toBe(400);
      expect(badStage.body).toHaveProperty("favourite");
      const badTimedelta = await t.api("POST", "/api/v3/stages/password/", { body: { name: "y" } });
      expect(badTimedelta.status).toBe(400);
      expect(badTimedelta.body).toHaveProperty("backends");
      expect((await t.api("GET", "/api/v3/stages/all/")).body.pagination.count).toBe(before);

      const flow = await created("/api/v3/flows/instances/", {
        slug: "refs",
        name: "r",
        title: "r",
        designation: "authentication",
      });
      const missingStage = await t.api("POST", "/api/v3/flows/bindings/", {
        body: { target: flow.pk, stage: "00000000-0000-4000-8000-000000000000", order: 1 },
      });
      expect(missingStage.status).toBe(400);
      expect(missingStage.body).toHaveProperty("stage");
      const both = await t.api("POST", "/api/v3/policies/bindings/", {
        body: { target: flow.pk, group: vip.pk, user: bob.pk, order: 0 },
      });
      expect(both.status).toBe(400);
      expect(both.body).toHaveProperty("non_field_errors");
      const dupSlug = await t.api("POST", "/api/v3/flows/instances/", {
        body: { slug: "refs", name: "r", title: "r", designation: "authentication" },
      });
      expect(dupSlug.status).toBe(400);
      expect(dupSlug.body).toHaveProperty("slug");
      const badDesignation = await t.api("POST", "/api/v3/flows/instances/", {
        body: { slug: "z", name: "z", title: "z", designation: "nope" },
      });
      expect(badDesignation.status).toBe(400);
    });

    test("deleting a flow removes its bindings and policy bindings", async () => {
      const { flow, identBinding } = await loginFlow("doomed");
      await created("/api/v3/policies/bindings/", { target: identBinding.pk, user: bob.pk, order: 0 });
      expect((await t.api("DELETE", "/api/v3/flows/instances/doomed/")).status).toBe(204);
      expect((await t.api("GET", `/api/v3/flows/bindings/?target=${flow.pk}`)).body.pagination.count).toBe(0);
      expect(
        (await t.api("GET", `/api/v3/policies/bindings/?target=${identBinding.pk}`)).body.pagination.count,
      ).toBe(0);
      expect((await t.api("GET", "/api/v3/flows/instances/doomed/")).status).toBe(404);
    });

    test("the default flows exist with authentik's slugs", async () => {
      const flows = await t.api("GET", "/api/v3/flows/instances/?ordering=slug");
      const slugs = flows.body.results.map((f: { slug: string }) => f.slug);
      expect(slugs).toContain("default-authentication-flow");
      expect(slugs).toContain("default-invalidation-flow");
      const auth = await t.api("GET", "/api/v3/flows/instances/default-authentication-flow/");
      expect(auth.body.designation).toBe("authentication");
      expect(auth.body.stages).toHaveLength(4);
    });

    test("every stage and policy type is listed and has its own endpoint", async () => {
      const stages = (await t.api("GET", "/api/v3/stages/all/types/")).body.map(
        (k: { model_name: string }) => k.model_name,
      );
      expect(stages).toContain("authenticatorwebauthnstage");
      expect(stages).toContain("emailstage");
      const policies = (await t.api("GET", "/api/v3/policies/all/types/")).body.map(
        (k: { model_name: string }) => k.model_name,
      );
      expect(policies.sort()).toEqual(
        [
          "dummypolicy",
          "eventmatcherpolicy",
          "expressionpolicy",
          "passwordexpirypolicy",
          "passwordpolicy",
          "reputationpolicy",
        ].sort(),
      );
      const expiry = await t.api("POST", "/api/v3/policies/password_expiry/", {
        body: { name: "expire-90", days: 90 },
      });
      expect(expiry.status).toBe(201);
      expect(expiry.body).toMatchObject({
        days: 90,
        deny_only: false,
        meta_model_name: "authentik_policies_password_expiry.passwordexpirypolicy",
      });
    });

    test("only superusers manage flows", async () => {
      const key = (
        await t.api("POST", "/api/v3/core/tokens/", {
          body: { identifier: "bob-api", intent: "api", user: bob.pk, expiring: false },
        })
      ).body.key as string;
      expect((await t.api("GET", "/api/v3/flows/instances/", { token: key })).status).toBe(403);
      expect((await t.api("GET", "/api/v3/stages/all/", { token: key })).status).toBe(403);
      expect((await t.api("GET", "/api/v3/policies/bindings/", { token: key })).status).toBe(403);
      expect((await t.api("GET", "/api/v3/flows/instances/", { token: null })).status).toBe(403);
    });
  });
}
