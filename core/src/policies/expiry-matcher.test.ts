import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestCore, type TestCore } from "../../../tests/support/core.ts";
import { eventMatcherPolicy } from "./event-matcher.ts";
import { expiryPolicy } from "./expiry.ts";
import type { PolicyRequest } from "./types.ts";

describe("password expiry and event matcher policies", () => {
  let t: TestCore;
  let now = new Date();
  beforeAll(async () => {
    t = await startTestCore("sqlite", {}, () => new Date(now));
  });
  afterAll(() => t.stop());

  const request = async (context: Record<string, unknown> = {}): Promise<PolicyRequest> => ({
    user: await t.core.ctx.store.db
      .selectFrom("users")
      .selectAll()
      .where("username", "=", "akadmin")
      .executeTakeFirst(),
    http: { ip: null, userAgent: "", path: "" },
    context,
  });

  test("a fresh password passes; an old one fails, and unless deny_only it is made unusable", async () => {
    expect(
      (await expiryPolicy.evaluate(t.core.ctx, { days: 30, deny_only: true }, await request())).passing,
    ).toBe(true);
    now = new Date(now.getTime() + 31 * 86_400_000);
    const denied = await expiryPolicy.evaluate(t.core.ctx, { days: 30, deny_only: true }, await request());
    expect(denied).toEqual({ passing: false, messages: ["Password has expired."] });
    expect((await request()).user?.password).not.toBeNull();
    expect(
      (await expiryPolicy.evaluate(t.core.ctx, { days: 30, deny_only: false }, await request())).passing,
    ).toBe(false);
    expect((await request()).user?.password).toBeNull();
  });

  test("an event matches when every set field matches", async () => {
    const event = { action: "login_failed", client_ip: "192.0.2.1", app: "gatehouse.core", context: {} };
    const match = (config: Record<string, unknown>) =>
      request({ event }).then((r) =>
        eventMatcherPolicy.evaluate(
          t.core.ctx,
          { action: null, client_ip: null, app: null, model: null, ...config },
          r,
        ),
      );
    expect((await match({ action: "login_failed" })).passing).toBe(true);
    expect((await match({ action: "login_failed", client_ip: "192.0.2.1" })).passing).toBe(true);
    expect((await match({ action: "login" })).passing).toBe(false);
    expect(
      (await eventMatcherPolicy.evaluate(t.core.ctx, { action: "login" }, await request())).passing,
    ).toBe(false);
  });
});
