/**
 * Issuing tokens for a grant: a JWT access token (the proxy outpost verifies it offline), an opaque
 * refresh token when `offline_access` was granted, and an OpenID ID token when `openid` was. Only the
 * hashes of access and refresh tokens are kept (oauth2_tokens), with the grant family and the browser
 * session, so introspection, revocation, reuse detection and logout can find them.
 */
import { createHash, randomUUID } from "node:crypto";
import { randomSecret, sha256Hex } from "../../../shared/crypto.ts";
import type { CoreContext } from "../context.ts";
import type { ProviderRow } from "../providers/base.ts";
import { oauth2Settings, timedeltaMs } from "../providers/oauth2.ts";
import { asJson, toBool } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";
import { findUser } from "../users/service.ts";
import { oauth2Cache } from "./cache.ts";
import { type ScopeMapping, scopeClaims, sessionSid, subject } from "./claims.ts";
import { OAuthError } from "./http.ts";
import { cachedSigningKey, type SigningKey, signJwt } from "./keys.ts";
import { writeTokenRows } from "./token-writer.ts";

export const ACR = "goauthentik.io/providers/oauth2/default";

export interface Grant {
  provider: ProviderRow;
  mappings: ScopeMapping[];
  user: UserRow;
  scopes: string[];
  issuer: string;
  /** When the user authenticated (seconds since the epoch). */
  authTime: number;
  nonce?: string | null;
  sessionHash?: string | null;
  family?: string | null;
  amr?: string[];
  /** Which tokens to issue; the refresh token also needs `offline_access` among the scopes. */
  access?: boolean;
  refresh?: boolean;
  idToken?: boolean;
  /** An authorization code issued with the ID token (hybrid flow): its hash goes in `c_hash`. */
  code?: string;
}

export interface Issued {
  access_token?: string;
  token_type: "Bearer";
  scope: string;
  expires_in: number;
  refresh_token?: string;
  id_token?: string;
}

/** OIDC §3.3.2.11: the left half of the token's hash with the ID token's hash algorithm, base64url. */
export function halfHash(key: SigningKey, value: string): string {
  const alg = key.alg === "ES384" ? "sha384" : key.alg === "ES512" ? "sha512" : "sha256";
  const digest = createHash(alg).update(value).digest();
  return digest.subarray(0, digest.length / 2).toString("base64url");
}

const seconds = (validity: string, fallback: number) =>
  Math.max(1, Math.floor((timedeltaMs(validity) ?? fallback) / 1000));

export async function issueTokens(ctx: CoreContext, grant: Grant): Promise<Issued> {
  const settings = oauth2Settings(grant.provider);
  // Claims depend on the user, their groups and the provider's mappings; the cache drops them when
  // any of those change (cache.ts).
  const claims = await oauth2Cache(ctx).get(
    `claims:${grant.provider.id}:${grant.user.id}:${grant.user.is_active}:${grant.scopes.join(" ")}`,
    () => scopeClaims(ctx, grant.mappings, grant.user, grant.scopes),
  );
  const now = Math.floor(ctx.clock().getTime() / 1000);
  const lifetime = seconds(settings.access_token_validity, 300_000);
  const scope = grant.scopes.join(" ");
  const base: Record<string, unknown> = {
    iss: grant.issuer,
    sub: subject(ctx, settings.sub_mode, grant.user),
    aud: settings.client_id,
    azp: settings.client_id,
    iat: now,
    auth_time: grant.authTime,
    exp: now + lifetime,
    acr: ACR,
    ...(grant.amr?.length && { amr: grant.amr }),
    ...(grant.sessionHash && { sid: sessionSid(grant.sessionHash) }),
  };
  const key = await cachedSigningKey(ctx, grant.provider);
  const rows: Parameters<typeof store>[1] = [];
  const issued: Issued = { token_type: "Bearer", scope, expires_in: lifetime };

  if (grant.access !== false) {
    const accessClaims = { ...claims, ...base, scope, jti: randomUUID() };
    issued.access_token = await signJwt(key, accessClaims);
    rows.push({ token: issued.access_token, kind: "access", claims: accessClaims, expires: now + lifetime });
  }
  if (grant.refresh && grant.scopes.includes("offline_access")) {
    const refreshLifetime = seconds(settings.refresh_token_validity, 30 * 86_400_000);
    issued.refresh_token = randomSecret(48);
    rows.push({
      token: issued.refresh_token,
      kind: "refresh",
      claims: { ...base, exp: now + refreshLifetime, scope, ...(grant.nonce && { nonce: grant.nonce }) },
      expires: now + refreshLifetime,
    });
  }
  if (grant.idToken && grant.scopes.includes("openid")) {
    issued.id_token = await signJwt(key, {
      ...(settings.include_claims_in_id_token ? claims : {}),
      ...base,
      ...(grant.nonce && { nonce: grant.nonce }),
      ...(issued.access_token && { at_hash: halfHash(key, issued.access_token) }),
      ...(grant.code && { c_hash: halfHash(key, grant.code) }),
    });
  }
  await store(ctx, rows, grant, now);
  return issued;
}

async function store(
  ctx: CoreContext,
  rows: { token: string; kind: "access" | "refresh"; claims: Record<string, unknown>; expires: number }[],
  grant: Grant,
  now: number,
): Promise<void> {
  // Written with other grants' rows when they come together (token-writer.ts).
  await writeTokenRows(
    ctx,
    rows.map((r) => ({
      token_hash: sha256Hex(r.token),
      kind: r.kind,
      provider_id: grant.provider.id,
      user_id: grant.user.id,
      scope: grant.scopes.join(" "),
      claims: asJson(r.claims),
      created: new Date(now * 1000).toISOString(),
      expires: new Date(r.expires * 1000).toISOString(),
      revoked: false,
      family: grant.family ?? null,
      session_hash: grant.sessionHash ?? null,
    })),
  );
}

/** The user a grant is for, or invalid_grant when it is gone or deactivated. */
export async function activeUser(ctx: CoreContext, id: number): Promise<UserRow> {
  const user = await findUser(ctx.store.db, id);
  if (!user || !toBool(user.is_active)) throw new OAuthError("invalid_grant", "the user is not active");
  return user;
}

/** Revokes every token of a grant family (a reused code or refresh token). Returns how many. */
export async function revokeFamily(ctx: CoreContext, family: string): Promise<number> {
  const result = await ctx.store.db
    .updateTable("oauth2_tokens")
    .set({ revoked: true })
    .where("family", "=", family)
    .where("revoked", "=", false)
    .executeTakeFirst();
  return Number(result.numUpdatedRows ?? 0);
}
