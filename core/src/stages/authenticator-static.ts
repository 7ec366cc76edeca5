/** Static recovery codes: shows freshly made codes once; continuing confirms the device. */
import { Type as t } from "@sinclair/typebox";
import { confirmDevice, createStaticDevice, newStaticCodes } from "../authenticators/devices.ts";
import { setupUser } from "./authenticator-totp.ts";
import { avatarOf } from "./identification.ts";
import type { StageKind } from "./types.ts";

const CONTEXT_KEY = "authenticator_static";

export const authenticatorStaticStage: StageKind = {
  model: "authenticatorstaticstage",
  apiName: "authenticator/static",
  verboseName: "Static Authenticator Setup Stage",
  component: "ak-stage-authenticator-static-form",
  config: t.Object({
    configure_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
    friendly_name: t.Optional(t.String({ maxLength: 64 })),
    token_count: t.Optional(t.Integer({ minimum: 1, maximum: 100 })),
    token_length: t.Optional(t.Integer({ minimum: 6, maximum: 100 })),
  }),
  defaults: { configure_flow: null, friendly_name: "", token_count: 6, token_length: 12 },

  async challenge(run) {
    const user = await setupUser(run);
    if (!user) return { kind: "deny", message: "Log in to set up an authenticator." };
    // The codes live in the server-side plan until confirmed, so a reload shows the same ones.
    let pending = run.plan.context[CONTEXT_KEY] as { device: number; codes: string[] } | undefined;
    if (!pending) {
      const codes = newStaticCodes(
        Number(run.stage.config.token_count ?? 6),
        Number(run.stage.config.token_length ?? 12),
      );
      const device = await createStaticDevice(
        run.ctx,
        run.ctx.store.db,
        user.id,
        String(run.stage.config.friendly_name || "Static Token"),
        codes,
      );
      pending = { device: device.id, codes };
      run.plan.context[CONTEXT_KEY] = pending;
    }
    return {
      kind: "challenge",
      challenge: {
        component: "ak-stage-authenticator-static",
        pending_user: user.username,
        pending_user_avatar: avatarOf(user, user.username),
        codes: pending.codes,
      },
    };
  },

  async respond(run) {
    const pending = run.plan.context[CONTEXT_KEY] as { device: number } | undefined;
    if (!pending) return { kind: "deny", message: "No recovery codes were made in this flow." };
    await confirmDevice(run.ctx, run.ctx.store.db, pending.device);
    delete run.plan.context[CONTEXT_KEY];
    return { kind: "next" };
  },
};
