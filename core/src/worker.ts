/**
 * The built-in worker: periodic housekeeping (expired events, sessions and abandoned flows). Each task is an idempotent
 * delete, so several replicas running it at once is harmless.
 */
import type { CoreContext } from "./context.ts";
import { deleteExpiredEvents } from "./events/service.ts";
import { deleteExpiredFlowTokens } from "./flows/executor/flow-tokens.ts";
import { deleteExpiredPlans } from "./flows/executor/state.ts";
import { deleteExpiredGrantCodes } from "./oauth2/device.ts";
import { deleteExpiredOAuth2Tokens } from "./oauth2/introspect.ts";
import { deleteExpiredProxySessions } from "./outposts/proxy-sessions.ts";
import { deleteExpiredReputation } from "./policies/reputation.ts";
import { deleteExpiredSessions } from "./sessions/service.ts";

export const HOUSEKEEPING_INTERVAL_MS = 10 * 60_000;

export async function housekeeping(
  ctx: CoreContext,
): Promise<{ events: number; sessions: number; flows: number }> {
  const events = await deleteExpiredEvents(ctx);
  const sessions = await deleteExpiredSessions(ctx);
  const flows = await deleteExpiredPlans(ctx);
  await deleteExpiredReputation(ctx);
  await deleteExpiredFlowTokens(ctx);
  await deleteExpiredOAuth2Tokens(ctx);
  await deleteExpiredGrantCodes(ctx);
  await deleteExpiredProxySessions(ctx);
  if (events + sessions + flows > 0) {
    ctx.log.info("housekeeping", {
      expired_events: events,
      expired_sessions: sessions,
      abandoned_flows: flows,
    });
  }
  return { events, sessions, flows };
}

export function startWorker(ctx: CoreContext, intervalMs = HOUSEKEEPING_INTERVAL_MS): { stop(): void } {
  const run = () =>
    housekeeping(ctx).catch((err) =>
      ctx.log.error("housekeeping failed", { code: "WK0001Housekeeping", error: err }),
    );
  const timer = setInterval(run, intervalMs);
  timer.unref?.();
  void run();
  return { stop: () => clearInterval(timer) };
}
