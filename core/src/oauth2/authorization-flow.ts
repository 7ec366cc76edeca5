/**
 * What the authorization endpoint and the device-code page share: checking the application's
 * policies, planning the provider's authorization flow (consent) with a finisher for the signed-in
 * session, and — when the flow ends — the session's user and the `authorize_application` event.
 */
import { sha256Hex } from "../../../shared/crypto.ts";
import { requestMeta } from "../api/request.ts";
import { type ApplicationRow, checkApplicationAccess } from "../applications/service.ts";
import type { CoreContext } from "../context.ts";
import { modelContext, recordEventSafely } from "../events/service.ts";
import { FINISHER, type FinishRun } from "../flows/executor/finishers.ts";
import { planFlow } from "../flows/executor/planner.ts";
import { callerFacts } from "../flows/executor/session.ts";
import { savePlan } from "../flows/executor/state.ts";
import type { ProviderRow } from "../providers/base.ts";
import type { FlowPlan, FlowRow } from "../stages/types.ts";
import type { UserRow } from "../users/serialize.ts";
import { scopeMappings } from "./claims.ts";

export interface AuthorizationRequest {
  provider: ProviderRow;
  app: ApplicationRow;
  user: UserRow;
  scopes: string[];
  /** The finisher that ends the flow (flows/executor/finishers.ts). */
  finisher: string;
  /** What the finisher needs, kept in the plan's context. */
  context: Record<string, unknown>;
}

export interface PlannedAuthorization {
  flow: FlowRow;
  plan: FlowPlan;
  /** Why the user may not go on (policies or the flow's own); the plan then only shows it. */
  denied?: string;
}

/**
 * Checks the application's policies for the user and plans the provider's authorization flow with the
 * scopes' consent permissions; undefined when the provider has no usable flow. Nothing is saved yet.
 */
export async function planAuthorization(
  ctx: CoreContext,
  request: Request,
  r: AuthorizationRequest,
): Promise<PlannedAuthorization | undefined> {
  const flow = await ctx.store.db
    .selectFrom("flows")
    .selectAll()
    .where("flow_uuid", "=", r.provider.authorization_flow ?? "")
    .executeTakeFirst();
  if (!flow) return undefined;
  const { http, isOutpost } = await callerFacts(ctx, request, requestMeta(request));
  const mappings = await scopeMappings(ctx, r.provider);
  const context = {
    query: "",
    is_outpost: isOutpost,
    application: { pk: r.app.app_uuid, slug: r.app.slug, name: r.app.name },
    // authentik shows the scope mappings' descriptions as the permissions asked for.
    consent_permissions: mappings
      .filter((m) => m.scope_name && m.description && r.scopes.includes(m.scope_name))
      .map((m) => ({ id: m.scope_name as string, name: m.description as string })),
    ...r.context,
    [FINISHER]: r.finisher,
  };
  const access = await checkApplicationAccess(ctx, r.app, { user: r.user, http, context: {} });
  let denied = access.passing ? undefined : (access.messages[0] ?? "Access denied.");
  if (denied === undefined) {
    const planned = await planFlow(ctx, flow, r.user, http, context);
    if ("plan" in planned) return { flow, plan: planned.plan };
    denied = planned.denied;
  }
  // A plan made only to show the refusal (the executor's deny_message).
  const plan = {
    flow: flow.flow_uuid,
    bindings: [],
    index: 0,
    context: { ...context, deny_message: denied },
  };
  return { flow, plan, denied };
}

/** Saves the plan for the browser's session; where to send the browser. */
export async function startAuthorization(
  ctx: CoreContext,
  sessionId: string,
  planned: PlannedAuthorization,
): Promise<string> {
  await savePlan(ctx, sessionId, planned.flow.slug, planned.plan);
  return `/if/flow/${encodeURIComponent(planned.flow.slug)}/`;
}

/** The finishing flow's signed-in session and its user, or undefined once signed out. */
export async function finishingSession(run: FinishRun) {
  const row = await run.ctx.store.db
    .selectFrom("sessions as s")
    .innerJoin("users as u", "u.id", "s.user_id")
    .selectAll("u")
    .select(["s.created as session_created", "s.session_hash", "s.amr as session_amr"])
    .where("s.session_hash", "=", sha256Hex(run.sessionId))
    .executeTakeFirst();
  if (!row) return undefined;
  const { session_created, session_hash, session_amr, ...user } = row;
  return { user, created: session_created, hash: session_hash, amr: session_amr };
}

/** authentik's `authorize_application` event, with the scopes granted. */
export async function recordAuthorization(run: FinishRun, user: UserRow, scopes: string[]): Promise<void> {
  const app = run.plan.context.application as { pk: string; name: string };
  await recordEventSafely(run.ctx, {
    action: "authorize_application",
    user: { pk: user.id, username: user.username, email: user.email },
    clientIp: run.http.ip,
    context: {
      authorized_application: modelContext("application", app.pk, app.name).model,
      scopes: scopes.join(" "),
      flow: run.flow.flow_uuid,
    },
  });
}
