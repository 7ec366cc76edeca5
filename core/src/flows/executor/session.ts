/**
 * The flow session behind the `authentik_session` cookie: an id that keys in-progress flows and, once
 * a user-login stage has run, an authenticated session. Outposts (internal service accounts) may name
 * the end user's address with X-authentik-remote-ip.
 */
import { randomSecret, sha256Hex } from "../../../../shared/crypto.ts";
import type { RequestMeta } from "../../api/request.ts";
import { readCookie, SESSION_COOKIE } from "../../auth/authenticate.ts";
import type { CoreContext } from "../../context.ts";
import type { HttpFacts } from "../../stages/types.ts";
import { toBool, toIso } from "../../store/codec.ts";
import type { UserRow } from "../../users/serialize.ts";

export interface FlowSession {
  id: string;
  /** True when the cookie was missing or unusable and a new id was made. */
  fresh: boolean;
  user: UserRow | undefined;
  /** When the signed-in user authenticated (the session's start), with `user`. */
  signedInAt?: Date;
}

const SESSION_ID = /^[A-Za-z0-9_-]{20,128}$/;

export async function flowSession(ctx: CoreContext, request: Request): Promise<FlowSession> {
  const raw = readCookie(request.headers.get("cookie"), SESSION_COOKIE);
  if (!raw || !SESSION_ID.test(raw)) return { id: randomSecret(), fresh: true, user: undefined };
  const row = await ctx.store.db
    .selectFrom("sessions as s")
    .innerJoin("users as u", "u.id", "s.user_id")
    .selectAll("u")
    .select(["s.expires as session_expires", "s.created as session_created"])
    .where("s.session_hash", "=", sha256Hex(raw))
    .executeTakeFirst();
  if (!row) return { id: raw, fresh: false, user: undefined };
  const { session_expires, session_created, ...user } = row;
  const live = new Date(toIso(session_expires)) > ctx.clock() && toBool(user.is_active);
  if (!live) return { id: raw, fresh: false, user: undefined };
  return { id: raw, fresh: false, user, signedInAt: new Date(toIso(session_created)) };
}

export interface OutpostCaller {
  isOutpost: boolean;
  http: HttpFacts;
}

/** Honours X-authentik-outpost-token + X-authentik-remote-ip only for internal service accounts' API tokens. */
export async function callerFacts(
  ctx: CoreContext,
  request: Request,
  meta: RequestMeta,
): Promise<OutpostCaller> {
  const url = new URL(request.url);
  const http: HttpFacts = {
    ip: meta.ip,
    userAgent: meta.userAgent,
    path: meta.path,
    origin: `${url.protocol}//${request.headers.get("host") ?? url.host}`,
  };
  const token = request.headers.get("x-authentik-outpost-token");
  if (!token) return { isOutpost: false, http };
  const row = await ctx.store.db
    .selectFrom("tokens as t")
    .innerJoin("users as u", "u.id", "t.user_id")
    .select(["u.type", "u.is_active", "t.expiring", "t.expires"])
    .where("t.key_hash", "=", sha256Hex(token))
    .where("t.intent", "=", "api")
    .executeTakeFirst();
  const valid =
    row?.type === "internal_service_account" &&
    toBool(row.is_active) &&
    (!toBool(row.expiring) || (row.expires !== null && new Date(toIso(row.expires)) > ctx.clock()));
  if (!valid) {
    ctx.log.warn("ignoring X-authentik-outpost-token that is not an outpost's", {
      code: "FL0001BadOutpostToken",
      request_id: meta.id,
    });
    return { isOutpost: false, http };
  }
  const remote = request.headers.get("x-authentik-remote-ip");
  return { isOutpost: true, http: { ...http, ip: remote && remote.length <= 64 ? remote : http.ip } };
}

export function sessionCookie(id: string, secure: boolean, maxAgeSeconds?: number): string {
  const parts = [`${SESSION_COOKIE}=${id}`, "Path=/", "HttpOnly", "SameSite=Lax"];
  if (secure) parts.push("Secure");
  if (maxAgeSeconds !== undefined) parts.push(`Max-Age=${Math.floor(maxAgeSeconds)}`);
  return parts.join("; ");
}
