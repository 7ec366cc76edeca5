/** Password: checks the pending user's password against the configured backends; limited attempts. */
import { Type as t } from "@sinclair/typebox";
import { checkPassword, INBUILT_BACKEND, PASSWORD_BACKENDS, TOKEN_BACKEND } from "../auth/password.ts";
import { avatarOf } from "./identification.ts";
import { loginFailed } from "./login-outcome.ts";
import { fieldError, noteAmr, type StageKind, type StageRun } from "./types.ts";

export const passwordStage: StageKind = {
  model: "passwordstage",
  apiName: "password",
  verboseName: "Password Stage",
  component: "ak-stage-password-form",
  config: t.Object({
    backends: t.Array(t.Union(PASSWORD_BACKENDS.map((b) => t.Literal(b))), { minItems: 1 }),
    configure_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
    failed_attempts_before_cancel: t.Optional(t.Integer({ minimum: 0 })),
    allow_show_password: t.Optional(t.Boolean()),
  }),
  defaults: {
    backends: [INBUILT_BACKEND, TOKEN_BACKEND],
    configure_flow: null,
    failed_attempts_before_cancel: 5,
    allow_show_password: false,
  },

  async challenge(run) {
    return { kind: "challenge", challenge: await passwordChallenge(run) };
  },

  async respond(run, response) {
    const password = typeof response.password === "string" ? response.password : "";
    if (!password) {
      return {
        kind: "invalid",
        challenge: {
          ...(await passwordChallenge(run)),
          response_errors: fieldError("password", "This field is required.", "required"),
        },
      };
    }
    const user = await run.pendingUser();
    const backends = run.stage.config.backends as string[];
    const method = await checkPassword(run.ctx.store.db, user, password, backends, run.ctx.clock());
    if (method) {
      run.plan.context.auth_method = method;
      noteAmr(run.plan.context, "pwd");
      run.plan.context.failed_attempts = 0;
      return { kind: "next" };
    }
    const attempts = (run.plan.context.failed_attempts ?? 0) + 1;
    run.plan.context.failed_attempts = attempts;
    await loginFailed(run, user, user?.username ?? run.plan.context.pending_user_identifier ?? "");
    const limit = Number(run.stage.config.failed_attempts_before_cancel ?? 5);
    if (limit > 0 && attempts >= limit)
      return { kind: "deny", message: "Too many failed attempts. Start again." };
    return {
      kind: "invalid",
      challenge: {
        ...(await passwordChallenge(run)),
        response_errors: fieldError("password", "Invalid password"),
      },
    };
  },
};

async function passwordChallenge(run: StageRun) {
  const user = await run.pendingUser();
  const name = user?.username ?? run.plan.context.pending_user_identifier ?? "";
  return {
    component: "ak-stage-password",
    pending_user: name,
    pending_user_avatar: avatarOf(user, name),
    recovery_url: "",
    allow_show_password: Boolean(run.stage.config.allow_show_password),
  };
}
