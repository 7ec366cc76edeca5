/** User logout: ends the browser's session and records `logout`. */
import { Type as t } from "@sinclair/typebox";
import { recordEventSafely } from "../events/service.ts";
import type { StageKind, StageRun } from "./types.ts";

async function logout(run: StageRun) {
  const user = run.sessionUser;
  run.session.logout = true;
  if (user) {
    await recordEventSafely(run.ctx, {
      action: "logout",
      user: { pk: user.id, username: user.username, email: user.email },
      clientIp: run.http.ip,
      context: { flow: run.flow.slug },
    });
  }
  return { kind: "next" as const };
}

export const userLogoutStage: StageKind = {
  model: "userlogoutstage",
  apiName: "user_logout",
  verboseName: "User Logout Stage",
  component: "ak-stage-user-logout-form",
  config: t.Object({}),
  defaults: {},
  challenge: logout,
  respond: logout,
};
