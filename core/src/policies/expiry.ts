/**
 * Password expiry: fails once the user's password is older than `days`. Unless `deny_only`, the
 * password is also made unusable, so the user must recover it (authentik's behaviour).
 */
import { Type as t } from "@sinclair/typebox";
import { toIso } from "../store/codec.ts";
import type { PolicyKind } from "./types.ts";

const DAY_MS = 86_400_000;

export const expiryPolicy: PolicyKind = {
  model: "passwordexpirypolicy",
  apiName: "password_expiry",
  verboseName: "Password Expiry Policy",
  component: "ak-policy-password-expiry-form",
  config: t.Object({
    days: t.Integer({ minimum: 1, maximum: 100_000 }),
    deny_only: t.Optional(t.Boolean()),
  }),
  defaults: { days: 90, deny_only: false },
  async evaluate(ctx, config, request) {
    const user = request.user;
    if (!user) return { passing: true, messages: [] };
    const changed = new Date(toIso(user.password_change_date)).getTime();
    if (ctx.clock().getTime() - changed <= Number(config.days) * DAY_MS)
      return { passing: true, messages: [] };
    if (!config.deny_only) {
      await ctx.store.db.updateTable("users").set({ password: null }).where("id", "=", user.id).execute();
      return { passing: false, messages: ["Password expired. Reset it through the recovery flow."] };
    }
    return { passing: false, messages: ["Password has expired."] };
  },
};
