import type { CoreContext } from "../context.ts";
import { type FinishAnswer, type FinishRun, registerFinisher } from "../flows/executor/finishers.ts";
import { toIso } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";
import {
  finishingSession,
  planAuthorization,
  recordAuthorization,
  startAuthorization,
} from "./authorization-flow.ts";

const FINISHER_NAME = "oauth2_device";

/** What the plan keeps about the device code being approved. */
interface DeviceGrantContext {
  device_code_hash: string;
  scopes: string[];
}

export interface PendingDeviceCode {
  device_code_hash: string;
  provider_id: number;
  scope: string;
}

/** Why a device code cannot be approved here; shown to the user. */
export class DeviceCodeProblem extends Error {}

async function markDenied(ctx: CoreContext, hash: string): Promise<void> {
  await ctx.store.db
    .updateTable("oauth2_device_codes")
    .set({ status: "denied" })
    .where("device_code_hash", "=", hash)
    .where("status", "=", "pending")
    .execute();
}

/** Checks the application's policies and plans the provider's authorization flow; the flow's URL. */
export async function planDeviceApproval(
  ctx: CoreContext,
  request: Request,
  sessionId: string,
  user: UserRow,
  code: PendingDeviceCode,
): Promise<string> {
  const db = ctx.store.db;
  const provider = await db
    .selectFrom("providers")
    .selectAll()
    .where("id", "=", code.provider_id)
    .executeTakeFirst();
  const app =
    provider &&
    (await db.selectFrom("applications").selectAll().where("provider", "=", provider.id).executeTakeFirst());
  const scopes = code.scope.split(" ").filter(Boolean);
  const device: DeviceGrantContext = { device_code_hash: code.device_code_hash, scopes };
  const planned =
    provider &&
    app &&
    (await planAuthorization(ctx, request, {
      provider,
      app,
      user,
      scopes,
      finisher: FINISHER_NAME,
      context: { oauth2_device: device },
    }));
  if (!planned) throw new DeviceCodeProblem("This application cannot be signed in to.");
  // The device learns of a refusal at its next poll (access_denied).
  if (planned.denied !== undefined) await markDenied(ctx, code.device_code_hash);
  return startAuthorization(ctx, sessionId, planned);
}

const refused = (message: string): FinishAnswer => ({
  challenge: { component: "ak-stage-access-denied", error_message: message },
});

/** Ends the authorization flow: the code is approved for the session's user, once, while it lives. */
async function approve(run: FinishRun): Promise<FinishAnswer> {
  const { ctx } = run;
  const device = run.plan.context.oauth2_device as DeviceGrantContext;
  const session = await finishingSession(run);
  if (!session) return refused("You were signed out. Enter the code again.");
  const now = ctx.clock();
  const approved = await ctx.store.db
    .updateTable("oauth2_device_codes")
    .set({
      status: "approved",
      user_id: session.user.id,
      session_hash: session.hash,
      auth_time: toIso(session.created),
      amr: session.amr,
    })
    .where("device_code_hash", "=", device.device_code_hash)
    .where("status", "=", "pending")
    .where("expires", ">", now.toISOString())
    .executeTakeFirst();
  if (Number(approved.numUpdatedRows ?? 0) !== 1)
    return refused("This code has expired or was already used. Start again on your device.");
  await recordAuthorization(run, session.user, device.scopes);
  return { challenge: { component: "ak-provider-oauth2-device-code-finish" } };
}

registerFinisher(FINISHER_NAME, { finish: approve });
