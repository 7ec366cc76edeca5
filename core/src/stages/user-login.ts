/**
 * User login: turns the pending user into an authenticated session (a fresh session id, so a fixated
 * anonymous id never becomes a logged-in one), records `login`, and offers "remember me" when set up.
 */
import { Type as t } from "@sinclair/typebox";
import { recordEvent } from "../events/service.ts";
import { isTimedelta, parseTimedelta } from "../flows/timedelta.ts";
import { createSession, endSessions } from "../sessions/service.ts";
import { toBool } from "../store/codec.ts";
import { avatarOf } from "./identification.ts";
import { adjustReputation } from "./login-outcome.ts";
import { type Outcome, type StageKind, type StageRun, sessionAmr } from "./types.ts";

const timedelta = t.String({ maxLength: 100 });

export const userLoginStage: StageKind = {
  model: "userloginstage",
  apiName: "user_login",
  verboseName: "User Login Stage",
  component: "ak-stage-user-login-form",
  config: t.Object({
    session_duration: t.Optional(timedelta),
    terminate_other_sessions: t.Optional(t.Boolean()),
    remember_me_offset: t.Optional(timedelta),
    network_binding: t.Optional(t.Literal("no_binding")),
    geoip_binding: t.Optional(t.Literal("no_binding")),
    remember_device: t.Optional(timedelta),
  }),
  defaults: {
    session_duration: "seconds=0",
    terminate_other_sessions: false,
    remember_me_offset: "seconds=0",
    network_binding: "no_binding",
    geoip_binding: "no_binding",
    remember_device: "days=30",
  },

  async challenge(run) {
    if ((parseTimedelta(String(run.stage.config.remember_me_offset)) ?? 0) > 0) {
      const user = await run.pendingUser();
      return {
        kind: "challenge",
        challenge: {
          component: "ak-stage-user-login",
          pending_user: user?.username ?? "",
          pending_user_avatar: avatarOf(user, ""),
        },
      };
    }
    return login(run, false);
  },

  async respond(run, response) {
    return login(run, response.remember_me === true);
  },
};

async function login(run: StageRun, rememberMe: boolean): Promise<Outcome> {
  const user = await run.pendingUser();
  if (!user) return { kind: "deny", message: "No Pending user to login." };
  if (!toBool(user.is_active)) return { kind: "deny", message: "User is not active." };
  const config = run.stage.config;
  const duration = parseTimedelta(String(config.session_duration)) ?? 0;
  const offset = rememberMe ? (parseTimedelta(String(config.remember_me_offset)) ?? 0) : 0;
  const ctx = run.ctx;
  // A zero duration means "until the browser closes": a cookie without Max-Age, kept in the store
  // for the configured default lifetime.
  const lifetimeSeconds =
    duration + offset > 0 ? duration + offset : ctx.config["sessions.duration_hours"] * 3600;
  const now = ctx.clock();
  const session = await ctx.store.db.transaction().execute(async (trx) => {
    if (config.terminate_other_sessions) await endSessions(ctx, trx, { userIds: [user.id] });
    const created = await createSession(
      ctx,
      trx,
      user.id,
      run.http,
      lifetimeSeconds * 1000,
      sessionAmr(run.plan.context),
    );
    await trx.updateTable("users").set({ last_login: now.toISOString() }).where("id", "=", user.id).execute();
    await recordEvent(ctx, trx, {
      action: "login",
      user: { pk: user.id, username: user.username, email: user.email },
      clientIp: run.http.ip,
      context: {
        auth_method: run.plan.context.auth_method ?? "password",
        flow: run.flow.slug,
        session: created.uuid,
      },
    });
    return created;
  });
  await adjustReputation(ctx, user.username, run.http.ip, 1);
  run.session.login = { id: session.id, persistent: duration + offset > 0, maxAgeSeconds: lifetimeSeconds };
  return { kind: "next" };
}

export function validTimedelta(value: unknown): boolean {
  return typeof value === "string" && isTimedelta(value);
}
