/**
 * Plans a flow: checks the flow's authentication requirement and its own policies, then lists its
 * stage bindings in order, dropping those whose policies fail when `evaluate_on_plan` is set.
 */
import type { CoreContext } from "../../context.ts";
import { superuserIds } from "../../groups/membership.ts";
import { evaluateTarget, type PolicyEngineMode } from "../../policies/engine.ts";
import type { FlowPlan, FlowRow, HttpFacts, PlanContext } from "../../stages/types.ts";
import { toBool } from "../../store/codec.ts";
import type { UserRow } from "../../users/serialize.ts";

export type PlanResult = { plan: FlowPlan } | { denied: string };

export async function planFlow(
  ctx: CoreContext,
  flow: FlowRow,
  user: UserRow | undefined,
  http: HttpFacts,
  context: PlanContext,
): Promise<PlanResult> {
  const requirement = await checkAuthentication(ctx, flow, user, context);
  if (requirement) return { denied: requirement };
  const request = { user, http, context };
  const flowPolicies = await evaluateTarget(
    ctx,
    ctx.store.db,
    flow.flow_uuid,
    flow.policy_engine_mode as PolicyEngineMode,
    request,
  );
  if (!flowPolicies.passing)
    return { denied: flowPolicies.messages[0] ?? "Flow does not apply to current user." };

  const bindings = await ctx.store.db
    .selectFrom("flow_stage_bindings")
    .selectAll()
    .where("target", "=", flow.flow_uuid)
    .orderBy("order")
    .orderBy("fsb_uuid")
    .execute();
  const planned: string[] = [];
  for (const b of bindings) {
    if (toBool(b.evaluate_on_plan)) {
      const result = await evaluateTarget(
        ctx,
        ctx.store.db,
        b.fsb_uuid,
        b.policy_engine_mode as PolicyEngineMode,
        request,
      );
      if (!result.passing) continue;
    }
    planned.push(b.fsb_uuid);
  }
  return { plan: { flow: flow.flow_uuid, bindings: planned, index: 0, context } };
}

async function checkAuthentication(
  ctx: CoreContext,
  flow: FlowRow,
  user: UserRow | undefined,
  context: PlanContext,
): Promise<string | undefined> {
  switch (flow.authentication) {
    case "require_authenticated":
      return user ? undefined : "Flow requires authentication.";
    case "require_unauthenticated":
      return user ? "Flow requires the user to be logged out." : undefined;
    case "require_superuser":
      return user && (await superuserIds(ctx.store.db, [user.id])).has(user.id)
        ? undefined
        : "Flow requires a superuser.";
    case "require_outpost":
      return context.is_outpost ? undefined : "Flow can only be used by an outpost.";
    default:
      return undefined;
  }
}
