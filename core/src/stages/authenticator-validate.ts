/**
 * Authenticator validation: asks for a code from one of the pending user's confirmed devices (TOTP or a
 * static recovery code). A user with no allowed device is skipped, denied, or sent to set one up.
 */

import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { Type as t } from "@sinclair/typebox";
import {
  confirmedDevices,
  type DeviceRow,
  deviceChallenge,
  verifyAnyCode,
} from "../authenticators/devices.ts";
import { authenticationOptions, type UserVerification, verifyAssertion } from "../authenticators/webauthn.ts";
import type { UserRow } from "../users/serialize.ts";
import { avatarOf } from "./identification.ts";
import { loginFailed } from "./login-outcome.ts";
import { fieldError, noteAmr, type Outcome, type StageKind, type StageRun } from "./types.ts";

const DEVICE_CLASSES = ["static", "totp", "webauthn", "duo", "sms", "email"] as const;
/** The device classes Gatehouse can check today. */
const SUPPORTED = new Set(["static", "totp", "webauthn"]);
const ASSERTION_KEY = "webauthn_assertion_challenge";

export const authenticatorValidateStage: StageKind = {
  model: "authenticatorvalidatestage",
  apiName: "authenticator/validate",
  verboseName: "Authenticator Validation Stage",
  component: "ak-stage-authenticator-validate-form",
  config: t.Object({
    not_configured_action: t.Optional(
      t.Union([t.Literal("skip"), t.Literal("deny"), t.Literal("configure")]),
    ),
    device_classes: t.Optional(t.Array(t.Union(DEVICE_CLASSES.map((c) => t.Literal(c))))),
    configuration_stages: t.Optional(t.Array(t.String({ format: "uuid" }))),
    last_auth_threshold: t.Optional(t.String({ maxLength: 100 })),
    webauthn_user_verification: t.Optional(
      t.Union([t.Literal("required"), t.Literal("preferred"), t.Literal("discouraged")]),
    ),
    webauthn_allowed_device_types: t.Optional(t.Array(t.String({ format: "uuid" }))),
  }),
  defaults: {
    not_configured_action: "skip",
    device_classes: [...DEVICE_CLASSES],
    configuration_stages: [],
    last_auth_threshold: "seconds=0",
    webauthn_user_verification: "preferred",
    webauthn_allowed_device_types: [],
  },

  async challenge(run) {
    const user = await run.pendingUser();
    if (!user) return { kind: "deny", message: "No pending user." };
    const devices = await allowedDevices(run, user);
    if (devices.length > 0)
      return { kind: "challenge", challenge: await validationChallenge(run, user, devices) };
    return notConfigured(run);
  },

  async respond(run, response) {
    const user = await run.pendingUser();
    if (!user) return { kind: "deny", message: "No pending user." };
    const devices = await allowedDevices(run, user);
    if (devices.length === 0) return notConfigured(run);
    const code = typeof response.code === "string" ? response.code.trim() : "";
    const expected = run.plan.context[ASSERTION_KEY];
    const assertion =
      response.webauthn && typeof response.webauthn === "object"
        ? (response.webauthn as AuthenticationResponseJSON)
        : undefined;
    const used =
      assertion && typeof expected === "string"
        ? await verifyAssertion(
            run.ctx,
            run.ctx.store.db,
            devices,
            assertion,
            expected,
            run.http.origin,
            run.stage.config.webauthn_user_verification === "required",
          )
        : code
          ? await verifyAnyCode(run.ctx, run.ctx.store.db, devices, code)
          : undefined;
    if (used) {
      run.plan.context.auth_method = "auth_mfa";
      run.plan.context.mfa_device = { kind: used.kind, pk: used.id };
      noteAmr(run.plan.context, used.kind === "webauthn" ? "hwk" : "otp");
      delete run.plan.context[ASSERTION_KEY];
      return { kind: "next" };
    }
    await loginFailed(run, user, user.username, { reason: "invalid_mfa_code" });
    return {
      kind: "invalid",
      challenge: {
        ...(await validationChallenge(run, user, devices)),
        response_errors: fieldError(
          "code",
          "Invalid Token. Please ensure the time on your device is accurate and try again.",
        ),
      },
    };
  },
};

async function allowedDevices(run: StageRun, user: UserRow): Promise<DeviceRow[]> {
  const classes = (run.stage.config.device_classes as string[]).filter((c) => SUPPORTED.has(c));
  return confirmedDevices(run.ctx.store.db, user.id, classes);
}

async function validationChallenge(run: StageRun, user: UserRow, devices: DeviceRow[]) {
  // One challenge per device class, as authentik shows them; WebAuthn's carries the assertion options.
  const byClass = new Map<string, DeviceRow>();
  for (const d of devices) if (!byClass.has(d.kind)) byClass.set(d.kind, d);
  const challenges = [];
  for (const device of byClass.values()) {
    const base = deviceChallenge(device);
    if (device.kind !== "webauthn") {
      challenges.push(base);
      continue;
    }
    const options = await authenticationOptions(
      run.http.origin,
      devices.filter((d) => d.kind === "webauthn"),
      run.stage.config.webauthn_user_verification as UserVerification,
    );
    run.plan.context[ASSERTION_KEY] = options.challenge;
    challenges.push({ ...base, challenge: options });
  }
  return {
    component: "ak-stage-authenticator-validate",
    pending_user: user.username,
    pending_user_avatar: avatarOf(user, user.username),
    device_challenges: challenges,
    configuration_stages: [],
  };
}

async function notConfigured(run: StageRun): Promise<Outcome> {
  switch (run.stage.config.not_configured_action) {
    case "deny":
      return { kind: "deny", message: "No (allowed) MFA authenticator configured." };
    case "configure": {
      const stages = (run.stage.config.configuration_stages as string[] | undefined) ?? [];
      if (stages.length === 0)
        return { kind: "deny", message: "No configuration stage is set up for this authenticator." };
      // Run the first configuration stage next, then come back to validate the new device.
      const here = run.plan.index;
      run.plan.bindings.splice(here + 1, 0, `stage:${stages[0]}`, run.plan.bindings[here] as string);
      return { kind: "next" };
    }
    default:
      return { kind: "next" };
  }
}
