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
    })
    .execute();
  return { id, uuid, expires };
}

export async function revokeSession(db: Db, uuid: string): Promise<boolean> {
  const result = await db.deleteFrom("sessions").where("uuid", "=", uuid).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Ends every session of a user ("sign out everywhere", and after a password change by an admin). */
export async function revokeUserSessions(db: Db, userId: number): Promise<number> {
  const result = await db.deleteFrom("sessions").where("user_id", "=", userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function deleteExpiredSessions(ctx: CoreContext): Promise<number> {
  const result = await ctx.store.db
    .deleteFrom("sessions")
    .where("expires", "<", ctx.clock().toISOString())
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
