/**
 * The OpenID Provider Metadata of an application's provider (OIDC Discovery 1.0,
 * /application/o/<slug>/.well-known/openid-configuration), listing exactly what is served. The proxy
 * outposts get the same document in their configuration (`oidc_configuration`).
 */
import type { CoreContext } from "../context.ts";
import { OAUTH2_CLIENT_KINDS, type ProviderRow } from "../providers/base.ts";
import { oauth2Settings } from "../providers/oauth2.ts";
import { RESPONSE_MODES, RESPONSE_TYPES } from "./authorize.ts";
import { scopeMappings } from "./claims.ts";
import { signingKey } from "./keys.ts";
import { SUPPORTED_GRANTS } from "./token.ts";

/** The OAuth2 (or proxy) provider an application slug leads to, or undefined. */
export async function providerOfApplication(
  ctx: CoreContext,
  slug: string,
): Promise<ProviderRow | undefined> {
  return ctx.store.db
    .selectFrom("applications as a")
    .innerJoin("providers as p", "p.id", "a.provider")
    .selectAll("p")
    .where("a.slug", "=", slug)
    .where("p.kind", "in", OAUTH2_CLIENT_KINDS)
    .executeTakeFirst();
}

export async function discoveryDocument(
  ctx: CoreContext,
  origin: string,
  slug: string,
  provider: ProviderRow,
): Promise<Record<string, unknown>> {
  const settings = oauth2Settings(provider);
  const app = `${origin}/application/o`;
  const scopes = (await scopeMappings(ctx, provider)).map((m) => m.scope_name ?? "");
  const alg = (await signingKey(ctx.store.db, provider).catch(() => undefined))?.alg ?? "HS256";
  const authMethods = ["client_secret_post", "client_secret_basic"];
  return {
    issuer: settings.issuer_mode === "global" ? `${origin}/` : `${app}/${slug}/`,
    authorization_endpoint: `${app}/authorize/`,
    token_endpoint: `${app}/token/`,
    device_authorization_endpoint: `${app}/device/`,
    userinfo_endpoint: `${app}/userinfo/`,
    introspection_endpoint: `${app}/introspect/`,
    revocation_endpoint: `${app}/revoke/`,
    end_session_endpoint: `${app}/${slug}/end-session/`,
    jwks_uri: `${app}/${slug}/jwks/`,
    response_types_supported: RESPONSE_TYPES,
    response_modes_supported: RESPONSE_MODES,
    grant_types_supported: SUPPORTED_GRANTS,
    code_challenge_methods_supported: ctx.config["oauth2.pkce_plain"] ? ["plain", "S256"] : ["S256"],
    token_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: [alg],
    scopes_supported: [...new Set(["openid", ...scopes])].filter(Boolean),
    claims_supported: [
      "sub",
      "iss",
      "aud",
      "exp",
      "iat",
      "auth_time",
      "azp",
      "email",
      "email_verified",
      "name",
      "given_name",
      "preferred_username",
      "nickname",
      "groups",
    ],
    acr_values_supported: ["goauthentik.io/providers/oauth2/default"],
    request_parameter_supported: false,
    claims_parameter_supported: false,
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    frontchannel_logout_supported: true,
    frontchannel_logout_session_supported: true,
  };
}
