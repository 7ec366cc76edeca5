/** Flow plans in the store, keyed by the hash of the flow session id, so any replica can continue a flow. */
import { sha256Hex } from "../../../../shared/crypto.ts";
import type { CoreContext, Db } from "../../context.ts";
import type { FlowPlan } from "../../stages/types.ts";
import { asJson, fromJson } from "../../store/codec.ts";

/** An unfinished flow is forgotten after this much idle time. */
export const PLAN_IDLE_MS = 60 * 60_000;

export async function loadPlan(
  ctx: CoreContext,
  sessionId: string,
  slug: string,
): Promise<FlowPlan | undefined> {
  const row = await ctx.store.db
    .selectFrom("flow_states")
    .select(["plan", "expires"])
    .where("session_hash", "=", sha256Hex(sessionId))
    .where("flow_slug", "=", slug)
    .executeTakeFirst();
  if (!row || new Date(row.expires) <= ctx.clock()) return undefined;
  return fromJson<FlowPlan>(row.plan);
}

export async function savePlan(
  ctx: CoreContext,
  sessionId: string,
  slug: string,
  plan: FlowPlan,
): Promise<void> {
  const now = ctx.clock();
  const values = {
    session_hash: sha256Hex(sessionId),
    flow_slug: slug,
    plan: asJson(plan as unknown as Record<string, unknown>),
    updated: now.toISOString(),
    expires: new Date(now.getTime() + PLAN_IDLE_MS).toISOString(),
  };
  await ctx.store.db
    .insertInto("flow_states")
    .values(values)
    .onConflict((oc) =>
      oc
        .columns(["session_hash", "flow_slug"])
        .doUpdateSet({ plan: values.plan, updated: values.updated, expires: values.expires }),
    )
    .execute();
}

export async function deletePlan(db: Db, sessionId: string, slug?: string): Promise<void> {
  let q = db.deleteFrom("flow_states").where("session_hash", "=", sha256Hex(sessionId));
  if (slug) q = q.where("flow_slug", "=", slug);
  await q.execute();
}

export async function deleteExpiredPlans(ctx: CoreContext): Promise<number> {
  const result = await ctx.store.db
    .deleteFrom("flow_states")
    .where("expires", "<", ctx.clock().toISOString())
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
