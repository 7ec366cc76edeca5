/**
 * The token endpoint (/application/o/token/, RFC 6749 §3.2), so far with the client-credentials grant
 * (§4.4): a confidential client authenticates with its secret (HTTP Basic or in the body, compared in
 * constant time) and gets a JWT access token and an ID token for its service account
 * (`ak-<provider>-client_credentials`, made on first use, as authentik does), carrying the claims of
 * the scopes it asked for. Errors are RFC 6749 §5.2's, with 401 and WWW-Authenticate for a failed Basic.
 */
import { randomUUID } from "node:crypto";
import { constantTimeEqual, sha256Hex } from "../../../shared/crypto.ts";
import type { CoreContext } from "../context.ts";
import { celUser, compileExpression } from "../policies/expression.ts";
import type { ProviderRow } from "../providers/base.ts";
import { oauth2Settings, timedeltaMs } from "../providers/oauth2.ts";
import { asJson, fromJson } from "../store/codec.ts";
import { userUid } from "../users/serialize.ts";
import { createUser, findUserByUsername } from "../users/service.ts";
import { signingKey, signJwt } from "./keys.ts";

export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

export function oauthJson(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...NO_STORE, ...headers },
  });
}

export function oauthErrorResponse(err: OAuthError): Response {
  return oauthJson({ error: err.error, error_description: err.description }, err.status, err.headers);
}

interface ClientCredentials {
  clientId: string;
  clientSecret: string | undefined;
  basic: boolean;
}

/** The client's credentials from HTTP Basic (RFC 6749 §2.3.1: form-encoded parts) or the body. */
function clientCredentials(request: Request, form: URLSearchParams): ClientCredentials {
  const header = request.headers.get("authorization") ?? "";
  if (/^basic /i.test(header)) {
    let decoded: string;
    try {
      decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
    } catch {
      throw invalidClient(true);
    }
    const at = decoded.indexOf(":");
    if (at < 0) throw invalidClient(true);
    const formDecode = (v: string) => {
      try {
        return decodeURIComponent(v.replace(/\+/g, " "));
      } catch {
        throw invalidClient(true);
      }
    };
    return {
      clientId: formDecode(decoded.slice(0, at)),
      clientSecret: formDecode(decoded.slice(at + 1)),
      basic: true,
    };
  }
  const clientId = form.get("client_id");
  if (!clientId) throw new OAuthError("invalid_request", "client_id is missing");
  return { clientId, clientSecret: form.get("client_secret") ?? undefined, basic: false };
}

const invalidClient = (basic: boolean) =>
  new OAuthError(
    "invalid_client",
    "Client authentication failed",
    401,
    basic ? { "www-authenticate": 'Basic realm="gatehouse"' } : {},
  );

async function providerByClientId(ctx: CoreContext, clientId: string): Promise<ProviderRow | undefined> {
  const rows = await ctx.store.db.selectFrom("providers").selectAll().where("kind", "=", "oauth2").execute();
  return rows.find((r) => oauth2Settings(r).client_id === clientId);
}

/** The issuer: per provider, `<base>/application/o/<slug>/`; global, `<base>/`. */
async function issuerOf(ctx: CoreContext, request: Request, provider: ProviderRow): Promise<string> {
  const base = new URL(request.url).origin;
  if (oauth2Settings(provider).issuer_mode === "global") return `${base}/`;
  const app = await ctx.store.db
    .selectFrom("applications")
    .select("slug")
    .where("provider", "=", provider.id)
    .executeTakeFirst();
  return `${base}/application/o/${app?.slug ?? ""}/`;
}

/** CEL values as JSON: maps to objects, ints to numbers, bytes to base64. */
function celJson(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(celJson);
  if (value && typeof value === "object") {
    const entries = (value as { entries?: () => Iterable<[unknown, unknown]> }).entries;
    if (typeof entries === "function" && !(value instanceof Error))
      return Object.fromEntries([...entries.call(value)].map(([k, v]) => [String(k), celJson(v)]));
    if (Symbol.iterator in (value as object)) return [...(value as Iterable<unknown>)].map(celJson);
  }
  return value;
}

/** The form body of a token, introspection or revocation request; anything else is invalid_request. */
export async function formBody(request: Request): Promise<URLSearchParams> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded"))
    throw new OAuthError("invalid_request", "the request body must be application/x-www-form-urlencoded");
  return new URLSearchParams(await request.text());
}

/**
 * The confidential client making the request, authenticated by its secret (RFC 6749 §2.3.1), or
 * invalid_client. The secret is compared even for an unknown client, so timing tells nothing.
 */
export async function authenticateClient(
  ctx: CoreContext,
  request: Request,
  form: URLSearchParams,
): Promise<ProviderRow> {
  const client = clientCredentials(request, form);
  const provider = await providerByClientId(ctx, client.clientId);
  const settings = provider && oauth2Settings(provider);
  const secretOk = constantTimeEqual(client.clientSecret ?? "", settings?.client_secret ?? "\0");
  if (!provider || !settings || settings.client_type !== "confidential" || !client.clientSecret || !secretOk)
    throw invalidClient(client.basic);
  return provider;
}

export async function tokenEndpoint(ctx: CoreContext, request: Request): Promise<Response> {
  try {
    const form = await formBody(request);
    const grantType = form.get("grant_type");
    if (!grantType) throw new OAuthError("invalid_request", "grant_type is missing");
    const provider = await authenticateClient(ctx, request, form);
    if (grantType !== "client_credentials")
      throw new OAuthError("unsupported_grant_type", `grant_type ${grantType} is not supported yet`);
    return await clientCredentialsGrant(ctx, request, provider, form);
  } catch (err) {
    if (err instanceof OAuthError) return oauthErrorResponse(err);
    throw err;
  }
}

async function clientCredentialsGrant(
  ctx: CoreContext,
  request: Request,
  provider: ProviderRow,
  form: URLSearchParams,
): Promise<Response> {
  const settings = oauth2Settings(provider);
  const mappings = settings.property_mappings.length
    ? await ctx.store.db
        .selectFrom("property_mappings")
        .selectAll()
        .where("pm_uuid", "in", settings.property_mappings)
        .where("kind", "=", "scope")
        .execute()
    : [];
  const offered = new Set(mappings.map((m) => m.scope_name ?? ""));
  const asked = (form.get("scope") ?? "").split(/\s+/).filter(Boolean);
  const unknown = asked.filter((s) => !offered.has(s) && s !== "openid");
  if (unknown.length) throw new OAuthError("invalid_scope", `unknown scope: ${unknown.join(" ")}`);
  const scopes = [...new Set(asked)];

  const user = await serviceAccount(ctx, provider);
  const activation = { user: await celUser(ctx.store.db, user), request: { scopes } };
  const claims: Record<string, unknown> = {};
  for (const m of mappings.filter((m) => scopes.includes(m.scope_name ?? ""))) {
    const result = (await compileExpression(m.expression))(activation as never);
    const value = celJson(result);
    if (value && typeof value === "object" && !Array.isArray(value) && !(result instanceof Error))
      Object.assign(claims, value);
  }

  const now = Math.floor(ctx.clock().getTime() / 1000);
  const lifetime = Math.max(1, Math.floor((timedeltaMs(settings.access_token_validity) ?? 300_000) / 1000));
  const base = {
    iss: await issuerOf(ctx, request, provider),
    sub: subject(ctx, settings.sub_mode, user),
    aud: settings.client_id,
    azp: settings.client_id,
    iat: now,
    auth_time: now,
    exp: now + lifetime,
  };
  const key = await signingKey(ctx.store.db, provider);
  const accessClaims = { ...claims, ...base, scope: scopes.join(" "), jti: randomUUID() };
  const accessToken = await signJwt(key, accessClaims);
  // Kept by hash, so introspection and revocation can find it; the token itself is not stored.
  await ctx.store.db
    .insertInto("oauth2_tokens")
    .values({
      token_hash: sha256Hex(accessToken),
      kind: "access",
      provider_id: provider.id,
      user_id: user.id,
      scope: scopes.join(" "),
      claims: asJson(accessClaims),
      created: new Date(now * 1000).toISOString(),
      expires: new Date((now + lifetime) * 1000).toISOString(),
      revoked: false,
    })
    .execute();
  const idToken = await signJwt(key, { ...(settings.include_claims_in_id_token ? claims : {}), ...base });
  return oauthJson({
    access_token: accessToken,
    token_type: "Bearer",
    scope: scopes.join(" "),
    expires_in: lifetime,
    id_token: idToken,
  });
}

type UserRow = NonNullable<Awaited<ReturnType<typeof findUserByUsername>>>;

/** The provider's own service account, made on first use. */
async function serviceAccount(ctx: CoreContext, provider: ProviderRow): Promise<UserRow> {
  const username = `ak-${provider.name.replace(/[^-a-zA-Z0-9_.]/g, "-")}-client_credentials`;
  const found = await findUserByUsername(ctx.store.db, username);
  if (found) return found;
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

/** `sub` as the provider's sub_mode says (authentik's SubModes). */
function subject(ctx: CoreContext, mode: string, user: UserRow): string {
  switch (mode) {
    case "user_id":
      return String(user.id);
    case "user_uuid":
      return user.uuid;
    case "user_username":
      return user.username;
    case "user_email":
      return user.email;
    case "user_upn": {
      const upn = fromJson<{ upn?: unknown }>(user.attributes).upn;
      return typeof upn === "string" ? upn : userUid(ctx.installId, user.id);
    }
    default:
      return userUid(ctx.installId, user.id);
  }
}
