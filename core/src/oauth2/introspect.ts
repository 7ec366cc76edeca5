/**
 * Token introspection (RFC 7662, /application/o/introspect/) and revocation (RFC 7009,
 * /application/o/revoke/) for the tokens a provider issued, asked by that provider's own client. A token
 * is found by the hash of its value; an unknown, expired, revoked or other client's token is simply
 * inactive (introspection) or ignored (revocation, which answers 200 either way).
 */
import { sha256Hex } from "../../../shared/crypto.ts";
import type { CoreContext } from "../context.ts";
import { fromJson, isPast, toBool } from "../store/codec.ts";
import { findUser } from "../users/service.ts";
import { authenticateClient } from "./clients.ts";
import { formBody, OAuthError, oauthEndpoint, oauthJson } from "./http.ts";
import { revokeFamily } from "./issue.ts";

async function issued(ctx: CoreContext, providerId: number, token: string) {
  const row = await ctx.store.db
    .selectFrom("oauth2_tokens")
    .selectAll()
    .where("token_hash", "=", sha256Hex(token))
    .where("provider_id", "=", providerId)
    .executeTakeFirst();
  return row;
}

export function introspectionEndpoint(ctx: CoreContext, request: Request): Promise<Response> {
  return oauthEndpoint(async () => {
    const form = await formBody(request);
    const provider = await authenticateClient(ctx, request, form);
    const token = form.get("token");
    if (!token) throw new OAuthError("invalid_request", "token is missing");
    const row = await issued(ctx, provider.id, token);
    const live = row !== undefined && !toBool(row.revoked) && !isPast(row.expires, ctx.clock());
    const user = live ? await findUser(ctx.store.db, row.user_id) : undefined;
    if (!row || !live || !user || !toBool(user.is_active)) return oauthJson({ active: false });
    const claims = fromJson<Record<string, unknown>>(row.claims);
    return oauthJson({
      active: true,
      scope: row.scope,
      client_id: claims.aud,
      token_type: row.kind === "refresh" ? "refresh_token" : "Bearer",
      exp: claims.exp,
      iat: claims.iat,
      sub: claims.sub,
      aud: claims.aud,
      iss: claims.iss,
      jti: claims.jti,
      ...(typeof claims.preferred_username === "string" && { username: claims.preferred_username }),
    });
  });
}

export function revocationEndpoint(ctx: CoreContext, request: Request): Promise<Response> {
  return oauthEndpoint(async () => {
    const form = await formBody(request);
    // RFC 7009 §2.1: a public client may revoke its own tokens by its client_id.
    const provider = await authenticateClient(ctx, request, form, { allowPublic: true });
    const token = form.get("token");
    if (!token) throw new OAuthError("invalid_request", "token is missing");
    const row = await issued(ctx, provider.id, token);
    if (row) {
      await ctx.store.db
        .updateTable("oauth2_tokens")
        .set({ revoked: true })
        .where("token_hash", "=", row.token_hash)
        .execute();
      // RFC 7009 §2.1: revoking a refresh token also revokes the access tokens of the same grant.
      if (row.kind === "refresh" && row.family) await revokeFamily(ctx, row.family);
    }
    return new Response(null, { status: 200, headers: { "cache-control": "no-store" } });
  });
}

/** Housekeeping: tokens past their expiry are of no use to anyone. */
export async function deleteExpiredOAuth2Tokens(ctx: CoreContext): Promise<number> {
  const result = await ctx.store.db
    .deleteFrom("oauth2_tokens")
    .where("expires", "<", ctx.clock().toISOString())
    .executeTakeFirst();
  return Number(result.numDeletedRows ?? 0);
}
