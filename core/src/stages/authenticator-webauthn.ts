/** WebAuthn setup: registers a passkey or security key for the signed-in (or pending) user. */

import type { RegistrationResponseJSON } from "@simplewebauthn/server";
import { Type as t } from "@sinclair/typebox";
import { confirmedDevices } from "../authenticators/devices.ts";
import { registerDevice, registrationOptions, type UserVerification } from "../authenticators/webauthn.ts";
import { recordEventSafely } from "../events/service.ts";
import type { UserRow } from "../users/serialize.ts";
import { setupUser } from "./authenticator-totp.ts";
import { avatarOf } from "./identification.ts";
import { fieldError, type StageKind, type StageRun } from "./types.ts";

const CHALLENGE_KEY = "webauthn_registration_challenge";

async function webauthnChallenge(run: StageRun, user: UserRow) {
  const existing = await confirmedDevices(run.ctx.store.db, user.id, ["webauthn"]);
  const options = await registrationOptions(
    run.flow.title || "Gatehouse",
    run.http.origin,
    user,
    existing,
    run.stage.config.user_verification as UserVerification,
  );
  run.plan.context[CHALLENGE_KEY] = options.challenge;
  return {
    component: "ak-stage-authenticator-webauthn",
    pending_user: user.username,
    pending_user_avatar: avatarOf(user, user.username),
    registration: options,
  };
}

export const authenticatorWebauthnStage: StageKind = {
  model: "authenticatorwebauthnstage",
  apiName: "authenticator/webauthn",
  verboseName: "WebAuthn Authenticator Setup Stage",
  component: "ak-stage-authenticator-webauthn-form",
  config: t.Object({
    configure_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
    friendly_name: t.Optional(t.String({ maxLength: 64 })),
    user_verification: t.Optional(
      t.Union([t.Literal("required"), t.Literal("preferred"), t.Literal("discouraged")]),
    ),
    authenticator_attachment: t.Optional(
      t.Union([t.Literal("platform"), t.Literal("cross-platform"), t.Null()]),
    ),
    resident_key_requirement: t.Optional(
      t.Union([t.Literal("discouraged"), t.Literal("preferred"), t.Literal("required")]),
    ),
    device_type_restrictions: t.Optional(t.Array(t.String())),
  }),
  defaults: {
    configure_flow: null,
    friendly_name: "",
    user_verification: "preferred",
    authenticator_attachment: null,
    resident_key_requirement: "preferred",
    device_type_restrictions: [],
  },

  async challenge(run) {
    const user = await setupUser(run);
    if (!user) return { kind: "deny", message: "Log in to set up an authenticator." };
    return { kind: "challenge", challenge: await webauthnChallenge(run, user) };
  },

  async respond(run, response) {
    const user = await setupUser(run);
    if (!user) return { kind: "deny", message: "Log in to set up an authenticator." };
    const expected = run.plan.context[CHALLENGE_KEY];
    const device =
      typeof expected === "string" && response.response && typeof response.response === "object"
        ? await registerDevice(
            run.ctx,
            run.ctx.store.db,
            user,
            String(run.stage.config.friendly_name || "WebAuthn Device"),
            response.response as RegistrationResponseJSON,
            expected,
            run.http.origin,
            run.stage.config.user_verification === "required",
          )
        : undefined;
    if (!device) {
      return {
        kind: "invalid",
        challenge: {
          ...(await webauthnChallenge(run, user)),
          response_errors: fieldError("response", "The authenticator's answer could not be verified."),
        },
      };
    }
    delete run.plan.context[CHALLENGE_KEY];
    run.ctx.signals.emit({ kind: "directory_changed", users: [], groups: [] });
    await recordEventSafely(run.ctx, {
      action: "model_created",
      user: { pk: user.id, username: user.username, email: user.email },
      clientIp: run.http.ip,
      context: {
        model: {
          app: "authentik_stages_authenticator_webauthn",
          model_name: "webauthndevice",
          pk: device.id,
          name: device.name,
        },
      },
    });
    return { kind: "next" };
  },
};
