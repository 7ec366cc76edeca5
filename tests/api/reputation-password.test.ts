import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isCommonPassword, passwordScore } from "../../core/src/policies/password.ts";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

describe("password checks", () => {
  test("common passwords are recognised whole, not as parts", async () => {
    expect(await isCommonPassword("password1")).toBe(true);
    expect(await isCommonPassword("qwerty123")).toBe(true);
    expect(await isCommonPassword("password1-but-with-a-long-unusual-tail")).toBe(false);
    expect(await passwordScore("correct horse battery staple")).toBeGreaterThanOrEqual(3);
    expect(await passwordScore("abc")).toBe(0);
  });
});

for (const backend of backendNames()) {
  describe(`reputation and password policies on ${backend}`, () => {
    let t: TestCore;
    const client = (ip: string) => {
      // Outposts name the end user's address; here each "client" gets its own.
      return new FlowClient((r) => t.core.app.handle(r), {
        headers: { "x-authentik-outpost-token": outpostKey, "x-authentik-remote-ip": ip },
      });
    };
    let outpostKey = "";
    const post = async (path: string, body: unknown) => {
      const res = await t.api("POST", path, { body });
      expect(res.status, `${path}: ${res.text}`).toBe(201);
      return res.body;
    };

    beforeAll(async () => {
      t = await startTestCore(backend);
      const outpost = await post("/api/v3/core/users/", {
        username: "ak-outpost-rep",
        name: "o",
        type: "internal_service_account",
      });
      outpostKey = (
        await post("/api/v3/core/tokens/", {
          identifier: "rep-outpost",
          intent: "api",
          user: outpost.pk,
          expiring: false,
        })
      ).key;
      const jack = await post("/api/v3/core/users/", { username: "jack", name: "Jack" });
      await t.api("POST", `/api/v3/core/users/${jack.pk}/set_password/`, {
        body: { password: "jack-password" },
      });
      // A login flow that refuses identities or addresses with a bad reputation, before asking for a password.
      const flow = await post("/api/v3/flows/instances/", {
        slug: "careful",
        name: "c",
        title: "c",
        designation: "authentication",
      });
      const ident = await post("/api/v3/stages/identification/", {
        name: "careful-ident",
        user_fields: ["username"],
      });
      const deny = await post("/api/v3/stages/deny/", { name: "careful-deny", deny_message: "Slow down." });
      const password = await post("/api/v3/stages/password/", {
        name: "careful-password",
        backends: ["authentik.core.auth.InbuiltBackend"],
        failed_attempts_before_cancel: 0,
      });
      const login = await post("/api/v3/stages/user_login/", { name: "careful-login" });
      await post("/api/v3/flows/bindings/", { target: flow.pk, stage: ident.pk, order: 10 });
      const denyBinding = await post("/api/v3/flows/bindings/", {
        target: flow.pk,
        stage: deny.pk,
        order: 20,
      });
      await post("/api/v3/flows/bindings/", { target: flow.pk, stage: password.pk, order: 30 });
      await post("/api/v3/flows/bindings/", { target: flow.pk, stage: login.pk, order: 40 });
      const reputation = await post("/api/v3/policies/reputation/", {
        name: "bad-reputation",
        threshold: -3,
      });
      await post("/api/v3/policies/bindings/", { target: denyBinding.pk, policy: reputation.pk, order: 0 });
    });
    afterAll(() => t.stop());

    test("failed logins lower the score until the reputation policy denies; a success raises it", async () => {
      const attacker = client("198.51.100.7");
      for (let i = 0; i < 3; i++) {
        const c = client("198.51.100.7");
        const res = await c.login("careful", "jack", "guess");
        expect(res.component).toBe("ak-stage-password");
      }
      // Three failures for jack from this address: the deny stage now runs, before any password is asked.
      const blocked = await attacker.login("careful", "jack", "jack-password");
      expect(blocked).toMatchObject({ component: "ak-stage-access-denied", error_message: "Slow down." });
      const scores = await t.core.ctx.store.db
        .selectFrom("reputations")
        .selectAll()
        .where("identifier", "=", "jack")
        .execute();
      expect(scores.map((s) => [s.ip, s.score])).toEqual([["198.51.100.7", -3]]);

      // The username's score counts from every address: jack is refused elsewhere too.
      const elsewhere = await client("198.51.100.20").login("careful", "jack", "jack-password");
      expect(elsewhere.component).toBe("ak-stage-access-denied");
      // Someone else from a clean address signs in, and the success raises their score.
      const admin = await client("198.51.100.21").login("careful", "akadmin", "akadmin-password");
      expect(admin.component).toBe("xak-flow-redirect");
      const good = await t.core.ctx.store.db
        .selectFrom("reputations")
        .select("score")
        .where("identifier", "=", "akadmin")
        .where("ip", "=", "198.51.100.21")
        .executeTakeFirstOrThrow();
      expect(good.score).toBe(1);
    });

    test("scores stay within the configured limits", async () => {
      for (let i = 0; i < 8; i++)
        await client("198.51.100.8").login("default-authentication-flow", "nobody", "x");
      const row = await t.core.ctx.store.db
        .selectFrom("reputations")
        .selectAll()
        .where("identifier", "=", "nobody")
        .executeTakeFirstOrThrow();
      expect(row.score).toBe(-5);
    });

    test("/policies/reputation/scores/ lists, filters and forgives scores; superusers only", async () => {
      const list = await t.api("GET", "/api/v3/policies/reputation/scores/?identifier=nobody");
      expect(list.status).toBe(200);
      expect(list.body.pagination.count).toBe(1);
      const [nobody] = list.body.results;
      expect(nobody).toEqual({
        pk: expect.any(String),
        identifier: "nobody",
        ip: "198.51.100.8",
        ip_geo_data: {},
        ip_asn_data: {},
        score: -5,
        updated: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
      const byIp = await t.api("GET", "/api/v3/policies/reputation/scores/?ip=198.51.100.7&ordering=-score");
      expect(byIp.body.results.map((r: { identifier: string }) => r.identifier)).toEqual(["jack"]);
      const several = await t.api("GET", "/api/v3/policies/reputation/scores/?identifier_in=jack,nobody");
      expect(several.body.pagination.count).toBe(2);
      expect((await t.api("GET", "/api/v3/policies/reputation/scores/?score=-5")).body.pagination.count).toBe(
        1,
      );
      expect(
        (await t.api("GET", "/api/v3/policies/reputation/scores/?search=100.8")).body.pagination.count,
      ).toBe(1);
      expect((await t.api("GET", `/api/v3/policies/reputation/scores/${nobody.pk}/`)).body.identifier).toBe(
        "nobody",
      );
      expect((await t.api("GET", "/api/v3/policies/reputation/scores/", { token: outpostKey })).status).toBe(
        403,
      );
      expect((await t.api("DELETE", `/api/v3/policies/reputation/scores/${nobody.pk}/`)).status).toBe(204);
      expect((await t.api("GET", `/api/v3/policies/reputation/scores/${nobody.pk}/`)).status).toBe(404);
      const events = await t.api(
        "GET",
        "/api/v3/events/events/?action=model_deleted&context_model_name=reputation",
      );
      expect(events.body.pagination.count).toBe(1);
    });

    test("the password policy rejects weak and common passwords with messages", async () => {
      const policy = await post("/api/v3/policies/password/", {
        name: "strong",
        length_min: 10,
        amount_digits: 1,
        amount_uppercase: 1,
        error_message: "Use 10+ characters with a digit and a capital.",
        check_zxcvbn: true,
        zxcvbn_score_threshold: 2,
      });
      const { evaluateTarget } = await import("../../core/src/policies/engine.ts");
      const flow = await post("/api/v3/flows/instances/", {
        slug: "pw-check",
        name: "p",
        title: "p",
        designation: "enrollment",
      });
      await post("/api/v3/policies/bindings/", { target: flow.pk, policy: policy.pk, order: 0 });
      const check = (password: string) =>
        evaluateTarget(t.core.ctx, t.core.ctx.store.db, flow.pk, "all", {
          user: undefined,
          http: { ip: null, userAgent: "", path: "" },
          context: { prompt_data: { password } },
        });
      expect((await check("short1A")).messages).toContain("Use 10+ characters with a digit and a capital.");
      const common = await check("Password123");
      expect(common.passing).toBe(false);
      expect(common.messages.join(" ")).toMatch(/common|guess/);
      expect((await check("Violet-Harbour-Kettle-42")).passing).toBe(true);
    });
  });
}
