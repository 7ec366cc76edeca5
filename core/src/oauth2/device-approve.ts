/**
 * Approving a device code for the signed-in user (authentik's CodeValidatorView and
 * OAuthDeviceCodeFinishStage): the application's policies decide first — a denial marks the code
 * denied and shows the access-denied stage — then the provider's authorization flow (consent) runs
 * with a finisher that marks the code approved for this user and session, and tells the user to go
 * back to their device (`ak-provider-oauth2-device-code-finish`).
 */
import { sha256Hex } from "../../../shared/crypto.ts";
import { requestMeta } from "../api/request.ts";
import { checkApplicationAccess } from "../applications/service.ts";
import type { CoreContext } from "../context.ts";
import { modelContext, recordEventSafely } from "../events/service.ts";
import {
  FINISHER,
  type FinishAnswer,
  type FinishRun,
  registerFinisher,
} from "../flows/executor/finishers.ts";
import { planFlow } from "../flows/executor/planner.ts";
import { callerFacts } from "../flows/executor/session.ts";
import { savePlan } from "../flows/executor/state.ts";
import type { FlowPlan } from "../stages/types.ts";
import { toIso } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";
import { scopeMappings } from "./claims.ts";

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
  const flow =
    provider &&
    (await db
      .selectFrom("flows")
      .selectAll()
      .where("flow_uuid", "=", provider.authorization_flow ?? "")
      .executeTakeFirst());
  if (!provider || !app || !flow) throw new DeviceCodeProblem("This application cannot be signed in to.");
  const { http, isOutpost } = await callerFacts(ctx, request, requestMeta(request));
  const scopes = code.scope.split(" ").filter(Boolean);
  const mappings = await scopeMappings(ctx, provider);
  const device: DeviceGrantContext = { device_code_hash: code.device_code_hash, scopes };
  const context = {
    query: "",
    is_outpost: isOutpost,
    application: { pk: app.app_uuid, slug: app.slug, name: app.name },
    consent_permissions: mappings
      .filter((m) => m.scope_name && m.description && scopes.includes(m.scope_name))
      .map((m) => ({ id: m.scope_name as string, name: m.description as string })),
    oauth2_device: device,
    [FINISHER]: FINISHER_NAME,
  };
  const access = await checkApplicationAccess(ctx, app, { user, http, context: {} });
  let deny: string | undefined = access.passing ? undefined : (access.messages[0] ?? "Access denied.");
  let plan: FlowPlan | undefined;
  if (deny === undefined) {
    const planned = await planFlow(ctx, flow, user, http, context);
    if ("denied" in planned) deny = planned.denied;
    else plan = planned.plan;
  }
  if (deny !== undefined || !plan) {
    // The device learns of it at its next poll (access_denied).
    await markDenied(ctx, code.device_code_hash);
    plan = { flow: flow.flow_uuid, bindings: [], index: 0, context: { ...context, deny_message: deny } };
  }
  await savePlan(ctx, sessionId, flow.slug, plan);
  return `/if/flow/${encodeURIComponent(flow.slug)}/`;
}

const refused = (message: string): FinishAnswer => ({
  challenge: { component: "ak-stage-access-denied", error_message: message },
});

/** Ends the authorization flow: the code is approved for the session's user, once, while it lives. */
async function approve(run: FinishRun): Promise<FinishAnswer> {
  const { ctx } = run;
  const device = run.plan.context.oauth2_device as DeviceGrantContext;
  const session = await ctx.store.db
    .selectFrom("sessions as s")
    .innerJoin("users as u", "u.id", "s.user_id")
    .select(["u.id", "u.username", "u.email", "s.created", "s.session_hash"])
    .where("s.session_hash", "=", sha256Hex(run.sessionId))
    .executeTakeFirst();
  if (!session) return refused("You were signed out. Enter the code again.");
  const now = ctx.clock();
  const approved = await ctx.store.db
    .updateTable("oauth2_device_codes")
    .set({
      status: "approved",
      user_id: session.id,
      session_hash: session.session_hash,
      auth_time: toIso(session.created),
    })
    .where("device_code_hash", "=", device.device_code_hash)
    .where("status", "=", "pending")
    .where("expires", ">", now.toISOString())
    .executeTakeFirst();
  if (Number(approved.numUpdatedRows ?? 0) !== 1)
    return refused("This code has expired or was already used. Start again on your device.");
  const app = run.plan.context.application as { pk: string; slug: string; name: string };
  await recordEventSafely(ctx, {
    action: "authorize_application",
    user: { pk: session.id, username: session.username, email: session.email },
    clientIp: run.http.ip,
    context: {
      authorized_application: modelContext("application", app.pk, app.name).model,
      scopes: device.scopes.join(" "),
      flow: run.flow.flow_uuid,
    },
  });
  return { challenge: { component: "ak-provider-oauth2-device-code-finish" } };
}

registerFinisher(FINISHER_NAME, { finish: approve });
