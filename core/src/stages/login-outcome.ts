/** What every failed or successful login leaves behind: a `login_failed` event and reputation changes. */
import type { CoreContext } from "../context.ts";
import { recordEventSafely } from "../events/service.ts";
import { updateReputation } from "../policies/reputation.ts";
import type { UserRow } from "../users/serialize.ts";
import type { StageRun } from "./types.ts";

export async function loginFailed(
  run: StageRun,
  user: UserRow | undefined,
  identifier: string,
  context: Record<string, unknown> = {},
): Promise<void> {
  await recordEventSafely(run.ctx, {
    action: "login_failed",
    user: user && { pk: user.id, username: user.username, email: user.email },
    clientIp: run.http.ip,
    context: { username: identifier, stage: run.stage.name, flow: run.flow.slug, ...context },
  });
  await adjustReputation(run.ctx, user?.username ?? identifier, run.http.ip, -1);
}

export async function adjustReputation(
  ctx: CoreContext,
  identifier: string,
  ip: string | null,
  delta: number,
): Promise<void> {
  try {
    await updateReputation(ctx, identifier, ip, delta);
  } catch (err) {
    ctx.log.error("could not update reputation", { code: "RP0001UpdateFailed", error: err });
  }
}
