import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { totpCode } from "../../core/src/authenticators/devices.ts";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

const AUTH = "default-authentication-flow";

for (const backend of backendNames()) {
  describe(`MFA on ${backend}`, () => {
    let t: TestCore;
    let now = new Date("2026-11-28T12:00:00.000Z");
    const clock = () => new Date(now);
    const client = () => new FlowClient((r) => t.core.app.handle(r));
    let secret = "";

    beforeAll(async () => {
      t = await startTestCore(backend, {}, clock);
      const carol = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "carol", name: "Carol" },
      });
      await t.api("POST", `/api/v3/core/users/${carol.body.pk}/set_password/`, {
        body: { password: "carol-password" },
      });
    });
    afterAll(() => t.stop());

    test("without a device, the default flow skips MFA", async () => {
      expect((await client().login(AUTH, "carol", "carol-password")).component).toBe("xak-flow-redirect");
    });

    test("a logged-in user enrols TOTP through the setup flow", async () => {
      const c = client();
      await c.login(AUTH, "carol", "carol-password");
      const setup = await c.get("default-authenticator-totp-setup");
      expect(setup.component).toBe("ak-stage-authenticator-totp");
      const url = new URL(setup.config_url);
      expect(url.protocol).toBe("otpauth:");
      secret = url.searchParams.get("secret") as string;
      expect(secret).toMatch(/^[A-Z2-7]+=*$/);
      // A reload shows the same secret: the unconfirmed device is kept in the plan.
      expect((await c.get("default-authenticator-totp-setup")).config_url).toBe(setup.config_url);

      const wrong = await c.post("default-authenticator-totp-setup", { code: "000000" });
      expect(wrong.response_errors.code[0].string).toBe("Code does not match");
      const done = await c.post("default-authenticator-totp-setup", { code: totpCode(secret, now) });
      expect(done.component).toBe("xak-flow-redirect");
      const devices = await t.api(
        "GET",
        "/api/v3/authenticators/admin/totp/?user=" +
          (await t.api("GET", "/api/v3/core/users/?username=carol")).body.results[0].pk,
      );
      expect(devices.body.results).toHaveLength(1);
      expect(devices.body.results[0].user.username).toBe("carol");
      expect(JSON.stringify(devices.body)).not.toContain(secret);
    });

    test("the setup flow needs a logged-in user", async () => {
      expect((await client().get("default-authenticator-totp-setup")).component).toBe(
        "ak-stage-access-denied",
      );
    });

    test("login then asks for the code; wrong codes fail, the right one passes, a replay fails", async () => {
      now = new Date(now.getTime() + 60_000);
      const c = client();
      const mfa = await c.login(AUTH, "carol", "carol-password");
      expect(mfa.component).toBe("ak-stage-authenticator-validate");
      const [challenge] = mfa.device_challenges;
      expect(mfa.device_challenges).toHaveLength(1);
      expect(challenge.device_class).toBe("totp");
      expect(challenge.challenge).toEqual({});
      expect(typeof challenge.device_uid).toBe("string");
      const wrong = await c.post(AUTH, { code: "123456" });
      expect(wrong.component).toBe("ak-stage-authenticator-validate");
      expect(wrong.response_errors.code[0].code).toBe("invalid");
      const code = totpCode(secret, now);
      const done = await c.post(AUTH, { selected_challenge: challenge, code });
      expect(done.component).toBe("xak-flow-redirect");
      const events = await t.api(
        "GET",
        "/api/v3/events/events/?actions=login&username=carol&ordering=-created",
      );
      expect(events.body.results[0].context.auth_method).toBe("auth_mfa");
      // The session remembers how (OIDC amr): a password and a one-time code.
      const session = await t.core.ctx.store.db
        .selectFrom("sessions")
        .select("amr")
        .where("session_hash", "=", new Bun.CryptoHasher("sha256").update(c.cookie ?? "").digest("hex"))
        .executeTakeFirst();
      expect(session?.amr).toBe("pwd otp mfa");

      const replay = client();
      await replay.login(AUTH, "carol", "carol-password");
      expect((await replay.post(AUTH, { code })).component).toBe("ak-stage-authenticator-validate");
    });

    test("static recovery codes work once each", async () => {
      const c = client();
      now = new Date(now.getTime() + 60_000);
      await c.login(AUTH, "carol", "carol-password");
      await c.post(AUTH, { code: totpCode(secret, now) });
      const setup = await c.get("default-authenticator-static-setup");
      expect(setup.component).toBe("ak-stage-authenticator-static");
      expect(setup.codes).toHaveLength(6);
      expect((await c.post("default-authenticator-static-setup", {})).component).toBe("xak-flow-redirect");

      const [first] = setup.codes as string[];
      const login = client();
      const mfa = await login.login(AUTH, "carol", "carol-password");
      expect(mfa.device_challenges.map((d: { device_class: string }) => d.device_class).sort()).toEqual([
        "static",
        "totp",
      ]);
      expect((await login.post(AUTH, { code: first })).component).toBe("xak-flow-redirect");
      const again = client();
      await again.login(AUTH, "carol", "carol-password");
      expect((await again.post(AUTH, { code: first })).component).toBe("ak-stage-authenticator-validate");
    });

    test("not_configured_action deny refuses users without a device", async () => {
      const dave = await t.api("POST", "/api/v3/core/users/", { body: { username: "dave", name: "Dave" } });
      await t.api("POST", `/api/v3/core/users/${dave.body.pk}/set_password/`, {
        body: { password: "dave-password" },
      });
      const flow = await t.api("POST", "/api/v3/flows/instances/", {
        body: { slug: "strict-mfa", name: "s", title: "s", designation: "authentication" },
      });
      const password = await t.api("POST", "/api/v3/stages/password/", {
        body: { name: "strict-password", backends: ["authentik.core.auth.InbuiltBackend"] },
      });
      const ident = await t.api("POST", "/api/v3/stages/identification/", {
        body: { name: "strict-ident", user_fields: ["username"], password_stage: password.body.pk },
      });
      const validate = await t.api("POST", "/api/v3/stages/authenticator/validate/", {
        body: { name: "strict-validate", not_configured_action: "deny", device_classes: ["totp"] },
      });
      expect(validate.status).toBe(201);
      expect(validate.body.meta_model_name).toBe(
        "authentik_stages_authenticator_validate.authenticatorvalidatestage",
      );
      await t.api("POST", "/api/v3/flows/bindings/", {
        body: { target: flow.body.pk, stage: ident.body.pk, order: 1 },
      });
      await t.api("POST", "/api/v3/flows/bindings/", {
        body: { target: flow.body.pk, stage: validate.body.pk, order: 2 },
      });
      const denied = await client().login("strict-mfa", "dave", "dave-password");
      expect(denied).toMatchObject({
        component: "ak-stage-access-denied",
        error_message: "No (allowed) MFA authenticator configured.",
      });
    });
  });
}
