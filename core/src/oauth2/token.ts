/**
 * The token endpoint (/application/o/token/, RFC 6749 §3.2) and its grants: authorization code (with
 * PKCE, single use: a reused code revokes what it issued), refresh token (rotated; a reused one revokes
 * its whole family), client credentials (the client's secret, giving tokens for the provider's service
 * account `ak-<provider>-client_credentials`; or authentik's form with a username and app password,
 * giving that user's tokens). Errors are RFC 6749 §5.2's.
 */
import { createHash } from "node:crypto";
import { constantTimeEqual, sha256Hex } from "../../../shared/crypto.ts";
import { checkApplicationAccess } from "../applications/service.ts";
import { checkPassword, TOKEN_BACKEND } from "../auth/password.ts";
import type { CoreContext } from "../context.ts";
import { recordEventSafely } from "../events/service.ts";
import type { ProviderRow } from "../providers/base.ts";
import { oauth2Settings, timedeltaMs } from "../providers/oauth2.ts";
import { fromJson, isPast, toBool, toIso } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";
import { createUser, findUserByUsername } from "../users/service.ts";
import { oauth2Cache } from "./cache.ts";
import { issuerOf, scopeMappings } from "./claims.ts";
import { authenticateClient, clientCredentials, invalidClient, providerByClientId } from "./clients.ts";
import { deviceCodeGrant } from "./device-grant.ts";
import { formBody, OAuthError, oauthEndpoint, oauthJson, originOf } from "./http.ts";
import { activeUser, issueTokens, revokeFamily } from "./issue.ts";

export type GrantHandler = (ctx: CoreContext, request: Request, form: URLSearchParams) => Promise<unknown>;

export const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

const GRANTS: Record<string, GrantHandler> = {
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
  client_credentials: clientCredentialsGrant,
  [DEVICE_CODE_GRANT]: deviceCodeGrant,
};

export const SUPPORTED_GRANTS = [...Object.keys(GRANTS), "implicit"];

export function tokenEndpoint(ctx: CoreContext, request: Request): Promise<Response> {
  return oauthEndpoint(async () => {
    const form = await formBody(request);
    const grantType = form.get("grant_type");
    if (!grantType) throw new OAuthError("invalid_request", "grant_type is missing");
    const grant = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : undefined;
    if (!grant) {
      // The client is still authenticated first: an unknown grant tells an unknown client nothing.
      await authenticateClient(ctx, request, form, { allowPublic: true });
      throw new OAuthError("unsupported_grant_type", `grant_type ${grantType} is not supported`);
    }
    return oauthJson(await grant(ctx, request, form));
  });
}

/** RFC 7636 §4.6: the verifier against the challenge stored with the code. */
function pkceMatches(method: string | null, challenge: string, verifier: string): boolean {
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return false;
  const computed = method === "S256" ? createHash("sha256").update(verifier).digest("base64url") : verifier;
  return constantTimeEqual(computed, challenge);
}

async function authorizationCodeGrant(ctx: CoreContext, request: Request, form: URLSearchParams) {
  const provider = await authenticateClient(ctx, request, form, { allowPublic: true });
  const code = form.get("code");
  if (!code) throw new OAuthError("invalid_request", "code is missing");
  const db = ctx.store.db;
  const hash = sha256Hex(code);
  const row = await db
    .selectFrom("oauth2_codes")
    .selectAll()
    .where("code_hash", "=", hash)
    .where("provider_id", "=", provider.id)
    .executeTakeFirst();
  if (!row) throw new OAuthError("invalid_grant", "the authorization code is invalid");
  if (toBool(row.used)) return codeReused(ctx, provider, row.family);
  if (isPast(row.expires, ctx.clock()))
    throw new OAuthError("invalid_grant", "the authorization code has expired");
  const redirectUri = form.get("redirect_uri");
  if (redirectUri !== null && redirectUri !== row.redirect_uri)
    throw new OAuthError("invalid_grant", "redirect_uri does not match the authorization request");
  const verifier = form.get("code_verifier");
  if (row.code_challenge) {
    if (!verifier) throw new OAuthError("invalid_grant", "code_verifier is missing");
    if (!pkceMatches(row.code_challenge_method, row.code_challenge, verifier))
      throw new OAuthError("invalid_grant", "code_verifier does not match the code_challenge");
  } else if (verifier) {
    throw new OAuthError("invalid_grant", "code_verifier given, but the authorization used no PKCE");
  }
  // Single use, also against a concurrent exchange of the same code.
  const taken = await db
    .updateTable("oauth2_codes")
    .set({ used: true })
    .where("code_hash", "=", hash)
    .where("used", "=", false)
    .executeTakeFirst();
  if (Number(taken.numUpdatedRows ?? 0) !== 1) return codeReused(ctx, provider, row.family);
  const user = await activeUser(ctx, row.user_id);
  return issueTokens(ctx, {
    provider,
    mappings: await scopeMappings(ctx, provider),
    user,
    scopes: row.scope.split(" ").filter(Boolean),
    issuer: await issuerOf(ctx, originOf(request), provider),
    authTime: Math.floor(new Date(toIso(row.auth_time)).getTime() / 1000),
    nonce: row.nonce,
    sessionHash: row.session_hash,
    family: row.family,
    amr: row.amr ? row.amr.split(" ") : undefined,
    refresh: true,
    idToken: true,
  });
}

/** RFC 6749 §4.1.2: a code used twice is treated as stolen; what it issued is revoked. */
async function codeReused(ctx: CoreContext, provider: ProviderRow, family: string): Promise<never> {
  const revoked = await revokeFamily(ctx, family);
  ctx.log.warn("an authorization code was used twice; its tokens are revoked", {
    code: "OA0003CodeReused",
    provider: provider.name,
    revoked,
  });
  await recordEventSafely(ctx, {
    action: "suspicious_request",
    context: { message: "Authorization code reused", provider: provider.name, revoked_tokens: revoked },
  });
  throw new OAuthError("invalid_grant", "the authorization code was already used");
}

async function refreshTokenGrant(ctx: CoreContext, request: Request, form: URLSearchParams) {
  const provider = await authenticateClient(ctx, request, form, { allowPublic: true });
  const token = form.get("refresh_token");
  if (!token) throw new OAuthError("invalid_request", "refresh_token is missing");
  const db = ctx.store.db;
  const hash = sha256Hex(token);
  const row = await db
    .selectFrom("oauth2_tokens")
    .selectAll()
    .where("token_hash", "=", hash)
    .where("kind", "=", "refresh")
    .where("provider_id", "=", provider.id)
    .executeTakeFirst();
  if (!row) throw new OAuthError("invalid_grant", "the refresh token is invalid");
  if (toBool(row.revoked)) return refreshReused(ctx, provider, row.family);
  if (isPast(row.expires, ctx.clock()))
    throw new OAuthError("invalid_grant", "the refresh token has expired");
  const granted = row.scope.split(" ").filter(Boolean);
  const asked = (form.get("scope") ?? "").split(/\s+/).filter(Boolean);
  const wider = asked.filter((s) => !granted.includes(s));
  if (wider.length) throw new OAuthError("invalid_scope", `not granted before: ${wider.join(" ")}`);
  const user = await activeUser(ctx, row.user_id);
  const claims = fromJson<{ auth_time?: number; amr?: unknown }>(row.claims);
  const settings = oauth2Settings(provider);
  // authentik's refresh_token_threshold: a refresh token with more life left than this is kept.
  const threshold = timedeltaMs(settings.refresh_token_threshold) ?? 0;
  const remaining = new Date(toIso(row.expires)).getTime() - ctx.clock().getTime();
  const rotate = threshold <= 0 || remaining <= threshold;
  if (rotate) {
    const taken = await db
      .updateTable("oauth2_tokens")
      .set({ revoked: true })
      .where("token_hash", "=", hash)
      .where("revoked", "=", false)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows ?? 0) !== 1) return refreshReused(ctx, provider, row.family);
  }
  const issued = await issueTokens(ctx, {
    provider,
    mappings: await scopeMappings(ctx, provider),
    user,
    scopes: asked.length ? [...new Set(asked)] : granted,
    issuer: await issuerOf(ctx, originOf(request), provider),
    authTime: typeof claims.auth_time === "number" ? claims.auth_time : Math.floor(Date.now() / 1000),
    sessionHash: row.session_hash,
    family: row.family,
    amr: Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === "string") : undefined,
    refresh: rotate,
    idToken: true,
  });
  return rotate ? issued : { ...issued, refresh_token: token };
}

/** A rotated (or revoked) refresh token presented again: the family is revoked (OAuth 2.0 BCP §4.14). */
async function refreshReused(ctx: CoreContext, provider: ProviderRow, family: string | null): Promise<never> {
  const revoked = family ? await revokeFamily(ctx, family) : 0;
  ctx.log.warn("a refresh token was used again after rotation; its family is revoked", {
    code: "OA0004RefreshReused",
    provider: provider.name,
    revoked,
  });
  await recordEventSafely(ctx, {
    action: "suspicious_request",
    context: { message: "Refresh token reused", provider: provider.name, revoked_tokens: revoked },
  });
  throw new OAuthError("invalid_grant", "the refresh token was already used");
}

async function clientCredentialsGrant(ctx: CoreContext, request: Request, form: URLSearchParams) {
  const username = form.get("username");
  const password = form.get("password");
  const provider =
    username !== null && password !== null
      ? await clientByIdOnly(ctx, request, form)
      : await authenticateClient(ctx, request, form);
  const mappings = await scopeMappings(ctx, provider);
  const offered = new Set(mappings.map((m) => m.scope_name ?? ""));
  const asked = (form.get("scope") ?? "").split(/\s+/).filter(Boolean);
  const unknown = asked.filter((s) => !offered.has(s) && s !== "openid");
  if (unknown.length) throw new OAuthError("invalid_scope", `unknown scope: ${unknown.join(" ")}`);
  const user =
    username !== null && password !== null
      ? await appPasswordUser(ctx, request, provider, username, password)
      : await serviceAccount(ctx, provider);
  const now = Math.floor(ctx.clock().getTime() / 1000);
  return issueTokens(ctx, {
    provider,
    mappings,
    user,
    scopes: [...new Set(asked)],
    issuer: await issuerOf(ctx, originOf(request), provider),
    authTime: now,
    amr: username !== null ? ["pwd"] : undefined,
    idToken: true,
    // RFC 6749 §4.4.3: no refresh token for client credentials.
    refresh: false,
  });
}

/**
 * authentik's machine-to-machine form: the client names itself by client_id (a secret, if sent, must
 * still be right), and the user is authenticated by username and app password.
 */
async function clientByIdOnly(ctx: CoreContext, request: Request, form: URLSearchParams) {
  const client = clientCredentials(request, form);
  if (client.clientSecret) return authenticateClient(ctx, request, form);
  const provider = await providerByClientId(ctx, client.clientId);
  if (!provider) throw invalidClient(client.basic);
  return provider;
}

async function appPasswordUser(
  ctx: CoreContext,
  request: Request,
  provider: ProviderRow,
  username: string,
  password: string,
): Promise<UserRow> {
  const user = await findUserByUsername(ctx.store.db, username);
  const method = await checkPassword(ctx.store.db, user, password, [TOKEN_BACKEND], ctx.clock());
  if (!user || !method) throw new OAuthError("invalid_grant", "the username or app password is wrong");
  const app = await ctx.store.db
    .selectFrom("applications")
    .selectAll()
    .where("provider", "=", provider.id)
    .executeTakeFirst();
  const access =
    app &&
    (await checkApplicationAccess(ctx, app, {
      user,
      http: { ip: null, userAgent: request.headers.get("user-agent") ?? "", path: "/application/o/token/" },
      context: {},
    }));
  if (!app || !access?.passing)
    throw new OAuthError("invalid_grant", "the user may not use this application");
  await recordEventSafely(ctx, {
    action: "login",
    user: { pk: user.id, username: user.username, email: user.email },
    context: { auth_method: "app_password", auth_method_args: { application: app.slug } },
  });
  return user;
}

/** The provider's own service account, made on first use (kept in the OAuth2 cache once it exists). */
async function serviceAccount(ctx: CoreContext, provider: ProviderRow): Promise<UserRow> {
  const username = `ak-${provider.name.replace(/[^-a-zA-Z0-9_.]/g, "-")}-client_credentials`;
  const found = await oauth2Cache(ctx)
    .get(`service-account:${username}`, async () => {
      const row = await findUserByUsername(ctx.store.db, username);
      // Not yet made: nothing to keep (a failed load is not cached).
      if (!row) throw new Error("no service account yet");
      return row;
    })
    .catch(() => undefined);
  if (found) {
    if (!toBool(found.is_active)) throw new OAuthError("invalid_grant", "the service account is not active");
    return found;
  }
  return ctx.store.db.transaction().execute(
    async (trx) =>
      (await findUserByUsername(trx, username)) ??
      createUser(ctx, trx, {
        username,
        name: `Autogenerated user from application ${provider.name} (client credentials)`,
        type: "internal_service_account",
        path: "goauthentik.io/service-accounts",
      }),
  );
}
