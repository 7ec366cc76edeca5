import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";
import { linkIn, startSmtp } from "../support/smtp.ts";

const ENROLL = "default-enrollment-flow";
const RECOVER = "default-recovery-flow";

for (const backend of backendNames()) {
  describe(`enrollment and recovery on ${backend}`, () => {
    let t: TestCore;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    const client = () => new FlowClient((r) => t.core.app.handle(r));

    beforeAll(async () => {
      smtp = await startSmtp();
      t = await startTestCore(backend, {
        "email.host": "127.0.0.1",
        "email.port": smtp.port,
        "email.from": "sso@example.test",
      });
      const olga = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "olga", name: "Olga", email: "olga@example.test" },
      });
      await t.api("POST", `/api/v3/core/users/${olga.body.pk}/set_password/`, {
        body: { password: "olga-old-password" },
      });
    });
    afterAll(async () => {
      await t.stop();
      await smtp.stop();
    });

    test("enrollment needs an invitation; prompts are checked; the new user is signed in", async () => {
      expect((await client().get(ENROLL)).component).toBe("ak-stage-access-denied");
      const invite = await t.api("POST", "/api/v3/stages/invitation/invitations/", {
        body: { name: "welcome-pat", single_use: true, fixed_data: { email: "pat@example.test" } },
      });
      expect(invite.status).toBe(201);
      const query = `itoken=${invite.body.pk}`;
      const c = client();
      const prompt = await c.get(ENROLL, query);
      expect(prompt.component).toBe("ak-stage-prompt");
      expect(prompt.fields.map((f: { field_key: string }) => f.field_key)).toEqual([
        "username",
        "name",
        "email",
        "password",
        "password_repeat",
      ]);
      expect(prompt.fields.find((f: { field_key: string }) => f.field_key === "email").initial_value).toBe(
        "pat@example.test",
      );

      const base = { username: "pat", name: "Pat", email: "pat@example.test" };
      const mismatch = await c.post(
        ENROLL,
        { ...base, password: "Harbour-Kettle-9", password_repeat: "other" },
        query,
      );
      expect(mismatch.response_errors.password_repeat[0].string).toBe("Passwords don't match.");
      const weak = await c.post(
        ENROLL,
        { ...base, password: "password1", password_repeat: "password1" },
        query,
      );
      expect(weak.component).toBe("ak-stage-prompt");
      expect(
        weak.response_errors.non_field_errors.map((e: { string: string }) => e.string).join(" "),
      ).toMatch(/common/);
      const taken = await c.post(
        ENROLL,
        { ...base, username: "olga", password: "Harbour-Kettle-9", password_repeat: "Harbour-Kettle-9" },
        query,
      );
      expect(taken.response_errors.username[0].string).toBe("Username is already taken.");

      const done = await c.post(
        ENROLL,
        { ...base, password: "Harbour-Kettle-9", password_repeat: "Harbour-Kettle-9" },
        query,
      );
      expect(done.component).toBe("xak-flow-redirect");
      const pat = (await t.api("GET", "/api/v3/core/users/?username=pat")).body.results[0];
      expect(pat).toMatchObject({
        name: "Pat",
        email: "pat@example.test",
        type: "internal",
        is_active: true,
      });
      const me = await t.api("GET", "/api/v3/core/users/me/", {
        token: null,
        headers: { cookie: `authentik_session=${c.cookie}` },
      });
      expect(me.body.user.username).toBe("pat");
      expect((await client().login("default-authentication-flow", "pat", "Harbour-Kettle-9")).component).toBe(
        "xak-flow-redirect",
      );
      const used = await t.api("GET", "/api/v3/events/events/?action=invitation_used");
      expect(used.body.pagination.count).toBe(1);

      // Single use: the same link now leads nowhere.
      expect((await client().get(ENROLL, query)).component).toBe("ak-stage-access-denied");
    });

    test("recovery mails a single-use link that sets a new password in another browser", async () => {
      const before = smtp.mails.length;
      const asker = client();
      expect((await asker.get(RECOVER)).component).toBe("ak-stage-identification");
      const sent = await asker.post(RECOVER, { uid_field: "olga@example.test" });
      expect(sent.component).toBe("ak-stage-email");
      expect(smtp.mails).toHaveLength(before + 1);
      const mail = smtp.mails.at(-1)!;
      expect(mail.to).toEqual(["olga@example.test"]);
      const link = linkIn(mail, `/if/flow/${RECOVER}/`);
      expect(link.searchParams.get("flow_token")).toBeTruthy();

      // Opened elsewhere: the saved plan resumes after the email stage.
      const other = client();
      const query = link.search.slice(1);
      const prompt = await other.get(RECOVER, query);
      expect(prompt.component).toBe("ak-stage-prompt");
      const afterToken = query.replace(/&?flow_token=[^&]*/, "");
      const done = await other.post(
        RECOVER,
        { password: "Violet-Harbour-77", password_repeat: "Violet-Harbour-77" },
        afterToken,
      );
      expect(done.component).toBe("xak-flow-redirect");
      expect(
        (await client().login("default-authentication-flow", "olga", "olga-old-password")).component,
      ).toBe("ak-stage-password");
      expect(
        (await client().login("default-authentication-flow", "olga", "Violet-Harbour-77")).component,
      ).toBe("xak-flow-redirect");

      // The link worked once.
      expect((await client().get(RECOVER, query)).component).toBe("ak-stage-access-denied");
      const events = await t.api("GET", "/api/v3/events/events/?action=email_sent");
      expect(events.body.results[0].context.to).toBe("olga@example.test");
    });

    test("recovery for an unknown address looks the same and sends nothing", async () => {
      const before = smtp.mails.length;
      const c = client();
      await c.get(RECOVER);
      expect((await c.post(RECOVER, { uid_field: "nobody@example.test" })).component).toBe("ak-stage-email");
      expect(smtp.mails).toHaveLength(before);
    });

    test("a signed-in user changes name and email in the user settings flow", async () => {
      const c = client();
      await c.login("default-authentication-flow", "olga", "Violet-Harbour-77");
      const prompt = await c.get("default-user-settings-flow");
      expect(prompt.fields.find((f: { field_key: string }) => f.field_key === "username").initial_value).toBe(
        "olga",
      );
      const done = await c.post("default-user-settings-flow", {
        username: "olga",
        name: "Olga K.",
        email: "olga.k@example.test",
      });
      expect(done.component).toBe("xak-flow-redirect");
      const olga = (await t.api("GET", "/api/v3/core/users/?username=olga")).body.results[0];
      expect(olga).toMatchObject({ name: "Olga K.", email: "olga.k@example.test" });
    });
  });
}
