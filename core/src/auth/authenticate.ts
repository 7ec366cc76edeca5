/**
 * API authentication: `Authorization: Bearer <api token>` or the `authentik_session` cookie.
 * Secrets are looked up by their SHA-256 hash; the raw value is never stored or logged.
 */
import { sha256Hex } from "../../../shared/crypto.ts";
import { GatehouseError } from "../../../shared/errors.ts";
import type { CoreContext } from "../context.ts";
import { superuserIds } from "../groups/membership.ts";
import { toBool } from "../store/codec.ts";
import type { Actor } from "./actor.ts";

export const SESSION_COOKIE = "authentik_session";
/** A session's last-used time is written at most this often, so reads do not turn into writes. */
const TOUCH_INTERVAL_MS = 60_000;

const notAuthenticated = () =>
  new GatehouseError("Authentication credentials were not provided.", {
    status: 403,
    code: "AU0001NoCredentials",
  });
const badToken = () =>
  new GatehouseError("Token invalid or expired.", { status: 403, code: "AU0002BadToken" });
const badSession = () =>
  new GatehouseError("Session invalid or expired.", { status: 403, code: "AU0003BadSession" });

export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

export interface RequestInfo {
  ip: string | null;
  userAgent: string;
}

/** Resolves the caller, or throws 403 with authentik's `detail` body. */
export async function authenticate(ctx: CoreContext, request: Request, info: RequestInfo): Promise<Actor> {
  const header = request.headers.get("authorization");
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw badToken();
    return byToken(ctx, m[1] as string);
  }
  const session = readCookie(request.headers.get("cookie"), SESSION_COOKIE);
  if (session) {
    checkSameOrigin(request);
    return bySession(ctx, session, info);
  }
  throw notAuthenticated();
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * A cookie rides along with cross-site requests, so a write authenticated by one must come from this
 * site: a matching Origin (browsers send it on cross-site writes), a same-origin Sec-Fetch-Site, and a
 * JSON body (which a cross-site form cannot send).
 */
export function checkSameOrigin(request: Request): void {
  if (SAFE_METHODS.has(request.method)) return;
  const host = request.headers.get("host") ?? new URL(request.url).host;
  const origin = request.headers.get("origin");
  const site = request.headers.get("sec-fetch-site");
  let sameOrigin = origin === null || safeHost(origin) === host;
  if (site !== null && site !== "same-origin" && site !== "none") sameOrigin = false;
  const type = request.headers.get("content-type");
  const jsonOrEmpty = type === null || type.startsWith("application/json");
  if (!sameOrigin || !jsonOrEmpty) {
    throw new GatehouseError("Cross-site request refused.", { status: 403, code: "AU0004CrossSite" });
  }
}

function safeHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

async function byToken(ctx: CoreContext, key: string): Promise<Actor> {
  const now = ctx.clock().toISOString();
  const row = await ctx.store.db
    .selectFrom("tokens as t")
    .innerJoin("users as u", "u.id", "t.user_id")
    .selectAll("u")
    .select(["t.identifier", "t.expiring", "t.expires"])
    .where("t.key_hash", "=", sha256Hex(key))
    .where("t.intent", "=", "api")
    .executeTakeFirst();
  if (!row || !toBool(row.is_active)) throw badToken();
  if (toBool(row.expiring) && (row.expires === null || new Date(row.expires).toISOString() <= now))
    throw badToken();
  const { identifier, expiring: _e, expires: _x, ...user } = row;
  const superuser = (await superuserIds(ctx.store.db, [user.id])).has(user.id);
  return { user, superuser, via: "token", credential: identifier };
}

async function bySession(ctx: CoreContext, raw: string, info: RequestInfo): Promise<Actor> {
  const now = ctx.clock();
  const hash = sha256Hex(raw);
  const row = await ctx.store.db
    .selectFrom("sessions as s")
    .innerJoin("users as u", "u.id", "s.user_id")
    .selectAll("u")
    .select(["s.uuid as session_uuid", "s.expires as session_expires", "s.last_used as session_last_used"])
    .where("s.session_hash", "=", hash)
    .executeTakeFirst();
  if (!row || !toBool(row.is_active) || new Date(row.session_expires) <= now) throw badSession();
  const { session_uuid, session_expires: _x, session_last_used, ...user } = row;
  if (now.getTime() - new Date(session_last_used).getTime() > TOUCH_INTERVAL_MS) {
    await ctx.store.db
      .updateTable("sessions")
      .set({
        last_used: now.toISOString(),
        last_ip: info.ip ?? "",
        last_user_agent: info.userAgent.slice(0, 512),
      })
      .where("session_hash", "=", hash)
      .execute();
  }
  const superuser = (await superuserIds(ctx.store.db, [user.id])).has(user.id);
  return { user, superuser, via: "session", credential: session_uuid };
}
