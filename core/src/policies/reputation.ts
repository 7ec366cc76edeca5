/**
 * Reputation: failed logins (web, LDAP, RADIUS — all run flows) lower the score of the username and of
 * the client address, successes raise it, within the configured limits. The reputation policy passes
 * when the summed score is at or below its threshold, as authentik's does: bind it to a deny stage.
 */
import { Type as t } from "@sinclair/typebox";
import { sql } from "kysely";
import type { CoreContext } from "../context.ts";
import type { PolicyKind } from "./types.ts";

export async function updateReputation(
  ctx: CoreContext,
  identifier: string,
  ip: string | null,
  delta: number,
): Promise<void> {
  const now = ctx.clock();
  const lower = ctx.config["reputation.lower_limit"];
  const upper = ctx.config["reputation.upper_limit"];
  const expires = new Date(now.getTime() + ctx.config["reputation.expiry_seconds"] * 1000).toISOString();
  const start = Math.max(lower, Math.min(upper, delta));
  await ctx.store.db
    .insertInto("reputations")
    .values({
      reputation_uuid: crypto.randomUUID(),
      identifier,
      ip: ip ?? "",
      score: start,
      updated: now.toISOString(),
      expires,
    })
    .onConflict((oc) =>
      oc.columns(["identifier", "ip"]).doUpdateSet({
        // Clamped in SQL so concurrent updates cannot push a score past the limits.
        score: sql<number>`case when reputations.score + ${delta} < ${lower} then ${lower} when reputations.score + ${delta} > ${upper} then ${upper} else reputations.score + ${delta} end`,
        updated: now.toISOString(),
        expires,
      }),
    )
    .execute();
}

export async function reputationScore(
  ctx: CoreContext,
  query: { identifier?: string | undefined; ip?: string | null | undefined },
): Promise<number> {
  if (query.identifier === undefined && (query.ip === undefined || query.ip === null)) return 0;
  const row = await ctx.store.db
    .selectFrom("reputations")
    .select((eb) => eb.fn.sum<number>("score").as("total"))
    .where("expires", ">", ctx.clock().toISOString())
    .where((eb) => {
      const parts = [];
      if (query.identifier !== undefined) parts.push(eb("identifier", "=", query.identifier));
      if (query.ip !== undefined && query.ip !== null) parts.push(eb("ip", "=", query.ip));
      return eb.or(parts);
    })
    .executeTakeFirst();
  return Number(row?.total ?? 0);
}

export async function deleteExpiredReputation(ctx: CoreContext): Promise<number> {
  const result = await ctx.store.db
    .deleteFrom("reputations")
    .where("expires", "<", ctx.clock().toISOString())
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export const reputationPolicy: PolicyKind = {
  model: "reputationpolicy",
  apiName: "reputation",
  verboseName: "Reputation Policy",
  component: "ak-policy-reputation-form",
  config: t.Object({
    check_ip: t.Optional(t.Boolean()),
    check_username: t.Optional(t.Boolean()),
    threshold: t.Optional(t.Integer({ minimum: -2147483648, maximum: 2147483647 })),
  }),
  defaults: { check_ip: true, check_username: true, threshold: -5 },
  async evaluate(ctx, config, request) {
    const identifier =
      request.user?.username ??
      (typeof request.context.pending_user_identifier === "string"
        ? request.context.pending_user_identifier
        : undefined);
    const score = await reputationScore(ctx, {
      identifier: config.check_username ? identifier : undefined,
      ip: config.check_ip ? request.http.ip : undefined,
    });
    const passing = score <= Number(config.threshold ?? -5);
    return { passing, messages: passing ? ["Too many failed attempts from this user or address."] : [] };
  },
};
