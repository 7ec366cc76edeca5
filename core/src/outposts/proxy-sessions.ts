/**
 * Proxy outpost sessions, kept in the core (authentik keeps them in each outpost's /dev/shm, so they
 * are lost on restart and loop between replicas). An outpost that has redeemed a login's code hands
 * the core the access token it got and the hash of the cookie it will set; the core checks that the
 * token is live and was issued to that provider, and keeps the session bound to the token's user and
 * core session. Any replica of any outpost serving the provider then finds it by the cookie's hash.
 * Ending the core session (logout, admin, deactivation) deletes its proxy sessions in the same step.
 *
 * /api/v3/outposts/proxy/sessions/ — POST (create), GET/DELETE <session_hash>/. Only the outposts
 * serving the provider (and superusers) may use them. The embedded outpost calls the functions here.
 */
import { Type as t } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { forbidden, notFound, validationError } from "../../../shared/errors.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { doc } from "../api/doc.ts";
import type { Actor } from "../auth/actor.ts";
import type { CoreContext, Db } from "../context.ts";
import { liveAccessToken } from "../oauth2/userinfo.ts";
import { asJson, fromJson, isPast, toBool, toIso } from "../store/codec.ts";
import { findUser } from "../users/service.ts";
import { outpostOfUser } from "./service.ts";

const HASH = /^[0-9a-f]{64}$/;

export const ProxySessionRequest = t.Object({
  /** SHA-256 (hex) of the cookie value the outpost sets. */
  session_hash: t.String({ pattern: "^[0-9a-f]{64}$" }),
  provider: t.Integer({ minimum: 1 }),
  /** The access token the outpost got for this login (a JWT); checked, never stored in the clear. */
  access_token: t.String({ minLength: 1, maxLength: 16384 }),
  /** The same token encrypted by the outpost with a key derived from the cookie value. */
  sealed_token: t.String({ minLength: 1, maxLength: 32768 }),
});

export interface ProxySessionOut {
  session_hash: string;
  provider: number;
  user: number;
  /** The core session's hash (the tokens' sid): SESSION_END names it. */
  sid: string | null;
  claims: Record<string, unknown>;
  sealed_token: string;
  expires: string;
}

type Row = {
  session_hash: string;
  provider_id: number;
  user_id: number;
  core_session_hash: string | null;
  claims: unknown;
  sealed_token: string;
  expires: string | Date;
};

const serialize = (row: Row): ProxySessionOut => ({
  session_hash: row.session_hash,
  provider: row.provider_id,
  user: row.user_id,
  sid: row.core_session_hash,
  claims: fromJson(row.claims),
  sealed_token: row.sealed_token,
  expires: toIso(row.expires),
});

/** Whether this actor may handle sessions of this provider: a superuser, or an outpost serving it. */
async function mayServe(db: Db, actor: Actor, providerId: number): Promise<boolean> {
  if (actor.superuser) return true;
  const outpost = await outpostOfUser(db, actor.user.id);
  if (!outpost) return false;
  const link = await db
    .selectFrom("outpost_providers")
    .select("provider_id")
    .where("outpost_uuid", "=", outpost.outpost_uuid)
    .where("provider_id", "=", providerId)
    .executeTakeFirst();
  return link !== undefined;
}

/** Creates (or replaces) a session for a live access token issued to the provider. */
export async function createProxySession(
  ctx: CoreContext,
  input: { session_hash: string; provider: number; access_token: string; sealed_token: string },
): Promise<ProxySessionOut> {
  const token = await liveAccessToken(ctx, input.access_token);
  if (!token || token.id !== input.provider)
    throw validationError("PS0002InvalidToken", {
      access_token: ["The token is not a live access token of this provider."],
    });
  const user = await findUser(ctx.store.db, token.user_id);
  if (!user || !toBool(user.is_active))
    throw validationError("PS0003InactiveUser", { access_token: ["The token's user is not active."] });
  const claims = fromJson<Record<string, unknown>>(token.claims);
  const values = {
    provider_id: input.provider,
    user_id: user.id,
    core_session_hash: token.session_hash,
    claims: asJson(claims),
    sealed_token: input.sealed_token,
    created: ctx.clock().toISOString(),
    expires: toIso(token.expires),
  };
  await ctx.store.db
    .insertInto("proxy_sessions")
    .values({ session_hash: input.session_hash, ...values })
    .onConflict((oc) => oc.column("session_hash").doUpdateSet(values))
    .execute();
  return serialize({ session_hash: input.session_hash, ...values });
}

/** A live session by its hash: not expired, its user active, its core session (if any) still there. */
export async function findProxySession(ctx: CoreContext, hash: string): Promise<ProxySessionOut | undefined> {
  const row = await ctx.store.db
    .selectFrom("proxy_sessions as p")
    .innerJoin("users as u", "u.id", "p.user_id")
    .leftJoin("sessions as s", "s.session_hash", "p.core_session_hash")
    .selectAll("p")
    .select(["u.is_active", "s.session_hash as live_session"])
    .where("p.session_hash", "=", hash)
    .executeTakeFirst();
  if (!row) return undefined;
  const expired = isPast(row.expires, ctx.clock());
  const orphaned = row.core_session_hash !== null && row.live_session === null;
  if (expired || orphaned || !toBool(row.is_active)) {
    await deleteProxySession(ctx, hash);
    return undefined;
  }
  return serialize(row);
}

export async function deleteProxySession(ctx: CoreContext, hash: string): Promise<boolean> {
  const result = await ctx.store.db
    .deleteFrom("proxy_sessions")
    .where("session_hash", "=", hash)
    .executeTakeFirst();
  return Number(result.numDeletedRows ?? 0) > 0;
}

/** Housekeeping: expired proxy sessions. */
export async function deleteExpiredProxySessions(ctx: CoreContext): Promise<number> {
  const result = await ctx.store.db
    .deleteFrom("proxy_sessions")
    .where("expires", "<", ctx.clock().toISOString())
    .executeTakeFirst();
  return Number(result.numDeletedRows ?? 0);
}

export function proxySessionsController(ctx: CoreContext) {
  const hashParam = (raw: string) => {
    if (!HASH.test(raw)) throw notFound("PS0010BadHash", "No session matches the given query.");
    return raw;
  };
  const visible = async (actor: Actor, hash: string) => {
    const session = await findProxySession(ctx, hash);
    if (!session || !(await mayServe(ctx.store.db, actor, session.provider)))
      throw notFound("PS0011NotFound", "No session matches the given query.");
    return session;
  };
  return new Elysia({ prefix: "/outposts/proxy/sessions" })
    .use(authenticated(ctx))
    .post(
      "/",
      async ({ actor, body, set }) => {
        const input = parseBody(ProxySessionRequest, body);
        if (!(await mayServe(ctx.store.db, actor, input.provider))) throw forbidden("PS0001NotServed");
        const out = await createProxySession(ctx, input);
        set.status = 201;
        return out;
      },
      doc("outposts", "outposts_proxy_sessions_create", "Proxy session", ProxySessionRequest, 201),
    )
    .get("/:hash/", async ({ actor, params }) => visible(actor, hashParam(params.hash)), {
      detail: { tags: ["outposts"], operationId: "outposts_proxy_sessions_retrieve" },
    })
    .delete(
      "/:hash/",
      async ({ actor, params }) => {
        const hash = hashParam(params.hash);
        await visible(actor, hash);
        await deleteProxySession(ctx, hash);
        // Other replicas may hold it in their short cache: they drop it now.
        ctx.signals.emit({ kind: "proxy_session_ended", session: hash });
        return noContent();
      },
      { detail: { tags: ["outposts"], operationId: "outposts_proxy_sessions_destroy" } },
    );
}
