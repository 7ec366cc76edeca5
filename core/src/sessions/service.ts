/** Browser sessions: a random id in the cookie, only its hash in the store; revocable one by one or all. */
import { randomSecret, sha256Hex } from "../../../shared/crypto.ts";
import type { CoreContext, Db } from "../context.ts";

export interface NewSession {
  /** The raw session id for the cookie; shown once, never stored. */
  id: string;
  uuid: string;
  expires: Date;
}

export async function createSession(
  ctx: CoreContext,
  db: Db,
  userId: number,
  client: { ip: string | null; userAgent: string },
  lifetimeMs: number = ctx.config["sessions.duration_hours"] * 3_600_000,
  amr: string[] = [],
): Promise<NewSession> {
  const now = ctx.clock();
  const id = randomSecret();
  const uuid = crypto.randomUUID();
  const expires = new Date(now.getTime() + lifetimeMs);
  await db
    .insertInto("sessions")
    .values({
      session_hash: sha256Hex(id),
      uuid,
      user_id: userId,
      expires: expires.toISOString(),
      created: now.toISOString(),
      last_used: now.toISOString(),
      last_ip: client.ip ?? "",
      last_user_agent: client.userAgent.slice(0, 512),
      amr: amr.length ? amr.join(" ") : null,
    })
    .execute();
  return { id, uuid, expires };
}

export type SessionSelector = { uuid: string } | { userIds: number[] } | { hash: string };

/**
 * Ends sessions and tells the outposts (SESSION_END with the session's hash), so proxy sessions tied to
 * them end too. Returns how many ended.
 */
export async function endSessions(ctx: CoreContext, db: Db, which: SessionSelector): Promise<number> {
  let q = db.deleteFrom("sessions");
  if ("uuid" in which) q = q.where("uuid", "=", which.uuid);
  else if ("hash" in which) q = q.where("session_hash", "=", which.hash);
  else q = q.where("user_id", "in", which.userIds.length > 0 ? which.userIds : [-1]);
  const ended = await q.returning("session_hash").execute();
  // Proxy outpost sessions built on these logins end in the same step (outposts also get SESSION_END).
  if (ended.length > 0)
    await db
      .deleteFrom("proxy_sessions")
      .where(
        "core_session_hash",
        "in",
        ended.map((r) => r.session_hash),
      )
      .execute();
  for (const row of ended) ctx.signals.emit({ kind: "session_ended", session: row.session_hash });
  return ended.length;
}

export async function deleteExpiredSessions(ctx: CoreContext): Promise<number> {
  const result = await ctx.store.db
    .deleteFrom("sessions")
    .where("expires", "<", ctx.clock().toISOString())
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
