import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestCore, type TestCore } from "../../../tests/support/core.ts";
import { consentStage } from "./consent.ts";
import type { StageRun } from "./types.ts";

describe("consent stage", () => {
  let t: TestCore;
  let now = new Date("2026-11-28T12:00:00.000Z");
  beforeAll(async () => {
    t = await startTestCore("sqlite", {}, () => new Date(now));
  });
  afterAll(() => t.stop());

  const run = async (mode: string, context: Record<string, unknown>): Promise<StageRun> => {
    const admin = await t.core.ctx.store.db
      .selectFrom("users")
      .selectAll()
      .where("username", "=", "akadmin")
      .executeTakeFirstOrThrow();
    return {
      ctx: t.core.ctx,
      flow: await t.core.ctx.store.db
        .selectFrom("flows")
        .selectAll()
        .where("slug", "=", "default-provider-authorization-explicit-consent")
        .executeTakeFirstOrThrow(),
      stage: { uuid: "s", name: "consent", config: { mode, consent_expire_in: "hours=1" } },
      plan: { flow: "f", bindings: [], index: 0, context: { pending_user: admin.id, ...context } },
      http: { ip: null, userAgent: "", path: "", origin: "http://localhost" },
      sessionUser: admin,
      pendingUser: async () => admin,
      session: {},
    };
  };
  const app = {
    application: { slug: "wiki", name: "Wiki" },
    consent_permissions: [{ id: "email", name: "Email address" }],
  };

  test("without an application in the plan there is nothing to consent to", async () => {
    expect((await consentStage.challenge(await run("always_require", {}))).kind).toBe("next");
  });

  test("asks, refuses a wrong token, and remembers an expiring consent until it expires", async () => {
    const first = await run("expiring", app);
    const asked = await consentStage.challenge(first);
    expect(asked.kind).toBe("challenge");
    const challenge = (asked as { challenge: Record<string, unknown> }).challenge;
    expect(challenge).toMatchObject({
      component: "ak-stage-consent",
      header_text: "You're about to sign into Wiki.",
    });
    expect((await consentStage.respond(first, { token: "forged" })).kind).toBe("invalid");
    expect((await consentStage.respond(first, { token: challenge.token })).kind).toBe("next");

    expect((await consentStage.challenge(await run("expiring", app))).kind).toBe("next");
    // A new permission needs asking again.
    const more = {
      ...app,
      consent_permissions: [...app.consent_permissions, { id: "groups", name: "Groups" }],
    };
    expect((await consentStage.challenge(await run("expiring", more))).kind).toBe("challenge");
    now = new Date(now.getTime() + 2 * 3_600_000);
    expect((await consentStage.challenge(await run("expiring", app))).kind).toBe("challenge");
  });

  test("always_require always asks", async () => {
    expect((await consentStage.challenge(await run("always_require", app))).kind).toBe("challenge");
  });
});
