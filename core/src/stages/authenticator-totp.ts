/** TOTP setup: creates an unconfirmed device, shows its otpauth:// URL, and confirms it with a first code. */
import { Type as t } from "@sinclair/typebox";
import {
  confirmDevice,
  createTotpDevice,
  revealTotpSecret,
  type TotpConfig,
  totpUrl,
  verifyTotp,
} from "../authenticators/devices.ts";
import { recordEventSafely } from "../events/service.ts";
import { fromJson } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";
import { avatarOf } from "./identification.ts";
import { fieldError, type Outcome, type StageKind, type StageRun } from "./types.ts";

const CONTEXT_KEY = "authenticator_totp_device";

export const authenticatorTotpStage: StageKind = {
  model: "authenticatortotpstage",
  apiName: "authenticator/totp",
  verboseName: "TOTP Authenticator Setup Stage",
  component: "ak-stage-authenticator-totp-form",
  config: t.Object({
    configure_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
    friendly_name: t.Optional(t.String({ maxLength: 64 })),
    digits: t.Optional(t.Union([t.Literal("6"), t.Literal("8"), t.Literal(6), t.Literal(8)])),
  }),
  defaults: { configure_flow: null, friendly_name: "", digits: "6" },

  async challenge(run) {
    const user = await setupUser(run);
    if (!user) return { kind: "deny", message: "Log in to set up an authenticator." };
    return { kind: "challenge", challenge: await totpChallenge(run, user) };
  },

  async respond(run, response) {
    const user = await setupUser(run);
    if (!user) return { kind: "deny", message: "Log in to set up an authenticator." };
    const device = await pendingDevice(run, user);
    const code = typeof response.code === "string" ? response.code.trim() : "";
    if (!device || !(await verifyTotp(run.ctx, run.ctx.store.db, device, code))) {
      return {
        kind: "invalid",
        challenge: {
          ...(await totpChallenge(run, user)),
          response_errors: fieldError("code", "Code does not match"),
        },
      };
    }
    await confirmDevice(run.ctx, run.ctx.store.db, device.id);
    delete run.plan.context[CONTEXT_KEY];
    await recordEventSafely(run.ctx, {
      action: "model_created",
      user: { pk: user.id, username: user.username, email: user.email },
      clientIp: run.http.ip,
      context: {
        model: {
          app: "authentik_stages_authenticator_totp",
          model_name: "totpdevice",
          pk: device.id,
          name: device.name,
        },
      },
    });
    return { kind: "next" } satisfies Outcome;
  },
};

/** Setting up a device is for the logged-in user, or the user a preceding stage identified. */
export async function setupUser(run: StageRun): Promise<UserRow | undefined> {
  return run.sessionUser ?? (await run.pendingUser());
}

async function pendingDevice(run: StageRun, user: UserRow) {
  const id = run.plan.context[CONTEXT_KEY];
  if (typeof id !== "number") return undefined;
  return run.ctx.store.db
    .selectFrom("authenticator_devices")
    .selectAll()
    .where("id", "=", id)
    .where("user_id", "=", user.id)
    .where("kind", "=", "totp")
    .executeTakeFirst();
}

async function totpChallenge(run: StageRun, user: UserRow) {
  let device = await pendingDevice(run, user);
  let secret: string;
  if (device) {
    secret = revealTotpSecret(run.ctx, device);
  } else {
    const digits = Number(run.stage.config.digits ?? 6) === 8 ? 8 : 6;
    const made = await createTotpDevice(
      run.ctx,
      run.ctx.store.db,
      user.id,
      String(run.stage.config.friendly_name || "TOTP Device"),
      digits,
    );
    device = made.device;
    secret = made.secret;
    run.plan.context[CONTEXT_KEY] = device.id;
  }
  const issuer = run.flow.title || "Gatehouse";
  return {
    component: "ak-stage-authenticator-totp",
    pending_user: user.username,
    pending_user_avatar: avatarOf(user, user.username),
    config_url: totpUrl(secret, fromJson<TotpConfig>(device.config), issuer, user.username),
  };
}
