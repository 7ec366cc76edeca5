/**
 * Email: mails the pending user a single-use link that resumes this flow (recovery, address
 * verification). Opening the link completes the stage — in any browser — and can activate the user.
 */
import { Type as t } from "@sinclair/typebox";
import { recordEventSafely } from "../events/service.ts";
import { saveFlowToken } from "../flows/executor/flow-tokens.ts";
import { parseTimedelta } from "../flows/timedelta.ts";
import { globalSmtp, sendMail } from "../mail/send.ts";
import type { Outcome, StageKind, StageRun } from "./types.ts";

/** Set on the plan when it was resumed from an emailed link (see the executor). */
export const EMAIL_VERIFIED = "email_link_verified";

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function smtpOf(run: StageRun) {
  const c = run.stage.config;
  const global = globalSmtp(run.ctx.config);
  if (c.use_global_settings !== false) return global;
  return {
    host: String(c.host || global.host),
    port: Number(c.port || global.port),
    username: String(c.username ?? ""),
    password: String(c.password ?? ""),
    useTls: Boolean(c.use_tls),
    useSsl: Boolean(c.use_ssl),
    timeoutSeconds: Number(c.timeout || global.timeoutSeconds),
    from: String(c.from_address || global.from),
  };
}

async function send(run: StageRun): Promise<Outcome> {
  const user = await run.pendingUser();
  const challenge = { component: "ak-stage-email" };
  if (!user?.email) {
    // Same answer as for a user with an address: no hint whether the account exists.
    return { kind: "challenge", challenge };
  }
  const lifetime = (parseTimedelta(String(run.stage.config.token_expiry ?? "minutes=30")) ?? 1800) * 1000;
  // The saved plan resumes at this stage, marked as verified.
  const resumed = { ...run.plan, context: { ...run.plan.context, [EMAIL_VERIFIED]: run.stage.uuid } };
  const token = await saveFlowToken(run.ctx, run.flow.slug, user.id, resumed, lifetime);
  const query = new URLSearchParams(run.plan.context.query ?? "");
  query.set("flow_token", token);
  const link = `${run.http.origin}/if/flow/${encodeURIComponent(run.flow.slug)}/?${query.toString()}`;
  const subject = String(run.stage.config.subject || "Gatehouse");
  try {
    await sendMail(smtpOf(run), {
      to: user.email,
      subject,
      text: `Hello ${user.name || user.username},\n\nOpen this link to continue:\n${link}\n\nIt works once, for ${Math.round(lifetime / 60000)} minutes. If you did not ask for this, ignore this email.\n`,
      html: `<p>Hello ${escapeHtml(user.name || user.username)},</p><p><a href="${escapeHtml(link)}">Continue</a> (works once, for ${Math.round(lifetime / 60000)} minutes).</p><p>If you did not ask for this, ignore this email.</p>`,
    });
  } catch (err) {
    run.ctx.log.error("email not sent", {
      code: "EM0001SendFailed",
      flow: run.flow.slug,
      error: (err as Error).message,
    });
    return { kind: "deny", message: "The email could not be sent. Try again later." };
  }
  await recordEventSafely(run.ctx, {
    action: "email_sent",
    user: { pk: user.id, username: user.username, email: user.email },
    clientIp: run.http.ip,
    context: { to: user.email, subject, flow: run.flow.slug },
  });
  run.plan.context.email_sent = true;
  return { kind: "challenge", challenge };
}

export const emailStage: StageKind = {
  model: "emailstage",
  apiName: "email",
  verboseName: "Email Stage",
  component: "ak-stage-email-form",
  config: t.Object({
    use_global_settings: t.Optional(t.Boolean()),
    host: t.Optional(t.String({ maxLength: 253 })),
    port: t.Optional(t.Integer({ minimum: 1, maximum: 65535 })),
    username: t.Optional(t.String({ maxLength: 200 })),
    password: t.Optional(t.String({ maxLength: 1000 })),
    use_tls: t.Optional(t.Boolean()),
    use_ssl: t.Optional(t.Boolean()),
    timeout: t.Optional(t.Integer({ minimum: 1, maximum: 600 })),
    from_address: t.Optional(t.String({ format: "email", maxLength: 254 })),
    token_expiry: t.Optional(t.String({ maxLength: 100 })),
    subject: t.Optional(t.String({ maxLength: 300 })),
    template: t.Optional(t.String({ maxLength: 300 })),
    activate_user_on_success: t.Optional(t.Boolean()),
    recovery_max_attempts: t.Optional(t.Integer({ minimum: 0 })),
    recovery_cache_timeout: t.Optional(t.String({ maxLength: 100 })),
  }),
  writeOnly: ["password"],
  defaults: {
    use_global_settings: true,
    host: "",
    port: 25,
    username: "",
    use_tls: false,
    use_ssl: false,
    timeout: 10,
    from_address: "gatehouse@localhost",
    token_expiry: "minutes=30",
    subject: "Gatehouse",
    template: "email/password_reset.html",
    activate_user_on_success: false,
    recovery_max_attempts: 5,
    recovery_cache_timeout: "minutes=5",
  },

  async challenge(run) {
    if (run.plan.context[EMAIL_VERIFIED] === run.stage.uuid) {
      delete run.plan.context[EMAIL_VERIFIED];
      if (run.stage.config.activate_user_on_success) {
        const user = await run.pendingUser();
        if (user)
          await run.ctx.store.db
            .updateTable("users")
            .set({ is_active: true })
            .where("id", "=", user.id)
            .execute();
      }
      return { kind: "next" };
    }
    if (run.plan.context.email_sent) return { kind: "challenge", challenge: { component: "ak-stage-email" } };
    return send(run);
  },

  /** POST asks for the email again. */
  respond: send,
};
