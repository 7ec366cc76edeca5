/**
 * Flow tokens: a plan saved behind a single-use secret, so an emailed link resumes the flow in any
 * browser. Only the secret's hash is stored; using it deletes it.
 */
import { randomSecret, sha256Hex } from "../../../../shared/crypto.ts";
import type { CoreContext } from "../../context.ts";
import type { FlowPlan } from "../../stages/types.ts";
import { asJson, fromJson } from "../../store/codec.ts";

export async function saveFlowToken(
  ctx: CoreContext,
  slug: string,
  userId: number | null,
  plan: FlowPlan,
  lifetimeMs: number,
): Promise<string> {
  const secret = randomSecret();
  await ctx.store.db
    .insertInto("flow_tokens")
    .values({
      token_hash: sha256Hex(secret),
      flow_slug: slug,
      user_id: userId,
      plan: asJson(plan as unknown as Record<string, unknown>),
      expires: new Date(ctx.clock().getTime() + lifetimeMs).toISOString(),
    })
    .execute();
  return secret;
}

/** The saved plan, once: a second use (or an expired token) finds nothing. */
export async function consumeFlowToken(
  ctx: CoreContext,
  slug: string,
  secret: string,
): Promise<FlowPlan | undefined> {
  return ctx.store.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom("flow_tokens")
      .selectAll()
      .where("token_hash", "=", sha256Hex(secret))
      .where("flow_slug", "=", slug)
      .executeTakeFirst();
    if (!row) return undefined;
    const gone = await trx
      .deleteFrom("flow_tokens")
      .where("token_hash", "=", row.token_hash)
      .executeTakeFirst();
    if (Number(gone.numDeletedRows) !== 1 || new Date(row.expires) <= ctx.clock()) return undefined;
    return fromJson<FlowPlan>(row.plan);
  });
}

export async function deleteExpiredFlowTokens(ctx: CoreContext): Promise<number> {
  const result = await ctx.store.db
    .deleteFrom("flow_tokens")
    .where("expires", "<", ctx.clock().toISOString())
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
