/**
 * The UserInfo endpoint (/application/o/userinfo/, OIDC Core §5.3): for a live access token, `sub` and
 * the claims of the scopes it was granted, computed now (so they follow the user's current data).
 * Bearer errors per RFC 6750 §3.
 */
import { sha256Hex } from "../../../shared/crypto.ts";
import type { CoreContext } from "../context.ts";
import { fromJson, isPast, toBool } from "../store/codec.ts";
import { findUser } from "../users/service.ts";
import { scopeClaims, scopeMappings } from "./claims.ts";
import { oauthJson } from "./http.ts";

const unauthorized = (error?: string, description?: string) =>
  oauthJson(error ? { error, error_description: description } : { error: "invalid_request" }, 401, {
    "www-authenticate": error
      ? `Bearer realm="gatehouse", error="${error}", error_description="${description}"`
      : 'Bearer realm="gatehouse"',
  });

/** The access token from `Authorization: Bearer` or, for POST, the form's `access_token` (RFC 6750 §2). */
async function bearer(request: Request): Promise<string | undefined> {
  const header = request.headers.get("authorization") ?? "";
  const m = /^bearer\s+(\S+)\s*$/i.exec(header);
  if (m) return m[1];
  const type = request.headers.get("content-type") ?? "";
  if (request.method === "POST" && type.startsWith("application/x-www-form-urlencoded"))
    return new URLSearchParams(await request.text()).get("access_token") ?? undefined;
  return undefined;
}

/** The live access token row a bearer token names, with its provider; undefined if none. */
export async function liveAccessToken(ctx: CoreContext, token: string) {
  const row = await ctx.store.db
    .selectFrom("oauth2_tokens as t")
    .innerJoin("providers as p", "p.id", "t.provider_id")
    .selectAll("p")
    .select([
      "t.user_id",
      "t.scope",
      "t.claims",
      "t.expires",
      "t.revoked",
      "t.kind as token_kind",
      "t.session_hash",
    ])
    .where("t.token_hash", "=", sha256Hex(token))
    .executeTakeFirst();
  if (row?.token_kind !== "access" || toBool(row.revoked)) return undefined;
  if (isPast(row.expires, ctx.clock())) return undefined;
  return row;
}

export async function userinfoEndpoint(ctx: CoreContext, request: Request): Promise<Response> {
  const token = await bearer(request);
  if (!token) return unauthorized();
  const row = await liveAccessToken(ctx, token);
  const user = row && (await findUser(ctx.store.db, row.user_id));
  if (!row || !user || !toBool(user.is_active))
    return unauthorized("invalid_token", "The access token is invalid, expired or revoked");
  const {
    user_id: _u,
    scope,
    claims,
    expires: _e,
    revoked: _r,
    token_kind: _k,
    session_hash: _s,
    ...provider
  } = row;
  const scopes = scope.split(" ").filter(Boolean);
  const mapped = await scopeClaims(ctx, await scopeMappings(ctx, provider), user, scopes);
  return oauthJson({ ...mapped, sub: fromJson<{ sub: string }>(claims).sub }, 200, {
    "access-control-allow-origin": "*",
  });
}
