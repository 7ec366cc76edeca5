/**
 * The proxy provider (/api/v3/providers/proxy/). As in authentik it *is* an OAuth2 provider: it keeps
 * the OAuth2 settings of its own confidential client, which Gatehouse maintains (authentik's
 * `set_oauth_defaults`): HS256 with the client secret, claims in the ID token, the scopes `openid`,
 * `profile`, `email`, `entitlements` and `ak_proxy` always mapped, and the strict redirect URIs
 * `<external_host>/outpost.goauthentik.io/callback?X-authentik-auth-callback=true` and
 * `<external_host>?X-authentik-auth-callback=true`, recomputed whenever `external_host` changes. The
 * outposts serving it hear of every change.
 */
import { randomBytes } from "node:crypto";
import { type Static, Type as t } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { validationError } from "../../../shared/errors.ts";
import { authenticated } from "../api/authenticated.ts";
import type { CoreContext, Db } from "../context.ts";
import { pairExists } from "../crypto/service.ts";
import { scopeMappings } from "../oauth2/claims.ts";
import { discoveryDocument } from "../oauth2/discovery.ts";
import { fromJson } from "../store/codec.ts";
import { checkProviderBasics, PROVIDER_READ_ONLY, type ProviderRow, servedProviderConfigs } from "./base.ts";
import { providerCrudRoutes } from "./crud.ts";
import { type OAuth2Settings, oauth2Settings, timedeltaMs } from "./oauth2.ts";

const MODES = ["proxy", "forward_single", "forward_domain"] as const;

export const ProxyProviderRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  authentication_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  authorization_flow: t.String({ format: "uuid" }),
  invalidation_flow: t.String({ format: "uuid" }),
  property_mappings: t.Optional(t.Array(t.String({ format: "uuid" }), { maxItems: 200 })),
  internal_host: t.Optional(t.String({ maxLength: 2000 })),
  external_host: t.String({ minLength: 1, maxLength: 2000 }),
  internal_host_ssl_validation: t.Optional(t.Boolean()),
  certificate: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  skip_path_regex: t.Optional(t.String({ maxLength: 20000 })),
  basic_auth_enabled: t.Optional(t.Boolean()),
  basic_auth_password_attribute: t.Optional(t.String({ maxLength: 300 })),
  basic_auth_user_attribute: t.Optional(t.String({ maxLength: 300 })),
  mode: t.Optional(t.Union(MODES.map((m) => t.Literal(m)))),
  intercept_header_auth: t.Optional(t.Boolean()),
  cookie_domain: t.Optional(t.String({ maxLength: 300 })),
  jwt_federation_sources: t.Optional(t.Array(t.String({ format: "uuid" }), { maxItems: 0 })),
  jwt_federation_providers: t.Optional(t.Array(t.Integer(), { maxItems: 100 })),
  access_token_validity: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
  refresh_token_validity: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
});
export type ProxyProviderRequest = Static<typeof ProxyProviderRequest>;

const READ_ONLY = [...PROVIDER_READ_ONLY, "client_id", "redirect_uris", "outpost_set"] as const;

/** The proxy's own settings and their defaults (authentik's ProxyProvider and its web form). */
const PROXY_DEFAULTS = {
  internal_host: "",
  internal_host_ssl_validation: true,
  certificate: null as string | null,
  skip_path_regex: "",
  basic_auth_enabled: false,
  basic_auth_password_attribute: "",
  basic_auth_user_attribute: "",
  mode: "proxy" as (typeof MODES)[number],
  intercept_header_auth: true,
  cookie_domain: "",
};
const PROXY_KEYS = Object.keys(PROXY_DEFAULTS) as (keyof typeof PROXY_DEFAULTS)[];

export type ProxySettings = typeof PROXY_DEFAULTS &
  OAuth2Settings & { external_host: string; cookie_secret: string };

/** Scopes every proxy provider's client has (authentik's set_oauth_defaults), by managed name. */
export const PROXY_SCOPES = [
  "goauthentik.io/providers/oauth2/scope-openid",
  "goauthentik.io/providers/oauth2/scope-profile",
  "goauthentik.io/providers/oauth2/scope-email",
  "goauthentik.io/providers/oauth2/scope-entitlements",
  "goauthentik.io/providers/proxy/scope-proxy",
];

export const CALLBACK_PATH = "/outpost.goauthentik.io/callback";
export const CALLBACK_FLAG = "X-authentik-auth-callback";

export function proxyRedirectUris(externalHost: string) {
  const host = externalHost.replace(/\/+$/, "");
  return [
    { matching_mode: "strict", url: `${host}${CALLBACK_PATH}?${CALLBACK_FLAG}=true` },
    { matching_mode: "strict", url: `${host}?${CALLBACK_FLAG}=true` },
  ];
}

export const proxySettings = (row: ProviderRow): ProxySettings => ({
  ...PROXY_DEFAULTS,
  external_host: "",
  cookie_secret: "",
  ...oauth2Settings(row),
  ...fromJson<Partial<ProxySettings>>(row.config),
});

/** What the API shows: the proxy's settings and its client's id and redirect URIs, never its secrets. */
function shown(row: ProviderRow) {
  const s = proxySettings(row);
  return {
    property_mappings: s.property_mappings,
    client_id: s.client_id,
    external_host: s.external_host,
    ...Object.fromEntries(PROXY_KEYS.map((k) => [k, s[k]])),
    redirect_uris: s.redirect_uris,
    jwt_federation_sources: s.jwt_federation_sources,
    jwt_federation_providers: s.jwt_federation_providers,
    access_token_validity: s.access_token_validity,
    refresh_token_validity: s.refresh_token_validity,
  };
}

const httpUrl = (value: string) => {
  try {
    const u = new URL(value);
    return (u.protocol === "http:" || u.protocol === "https:") && !u.hash;
  } catch {
    return false;
  }
};

async function check(db: Db, input: Partial<ProxyProviderRequest>, except?: number): Promise<void> {
  const fields: Record<string, string[]> = {};
  await checkProviderBasics(db, input, fields, except);
  if (input.external_host !== undefined && !httpUrl(input.external_host))
    fields.external_host = ["Enter a valid http or https URL."];
  if (input.internal_host && !httpUrl(input.internal_host))
    fields.internal_host = ["Enter a valid http or https URL."];
  if (input.mode === "proxy" && input.internal_host === "")
    fields.internal_host = ["Internal host cannot be empty when forward auth is disabled."];
  if (input.certificate && !(await pairExists(db, input.certificate)))
    fields.certificate = [`Invalid pk "${input.certificate}" - object does not exist.`];
  for (const field of ["access_token_validity", "refresh_token_validity"] as const) {
    const value = input[field];
    if (value !== undefined && timedeltaMs(value) === undefined)
      fields[field] = [`"${value}" is not a duration like "hours=1;minutes=30".`];
  }
  const bad = (input.skip_path_regex ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => {
      if (!line) return false;
      try {
        new RegExp(line);
        return false;
      } catch {
        return true;
      }
    });
  if (bad.length) fields.skip_path_regex = [`Invalid regular expression: ${bad.join(", ")}`];
  for (const pm of input.property_mappings ?? []) {
    const found = await db
      .selectFrom("property_mappings")
      .select("pm_uuid")
      .where("pm_uuid", "=", pm)
      .where("kind", "=", "scope")
      .executeTakeFirst();
    if (!found) fields.property_mappings = [`Invalid pk "${pm}" - object does not exist.`];
  }
  if (Object.keys(fields).length > 0) throw validationError("PP0002InvalidProvider", fields);
}

/** authentik's set_oauth_defaults: what the proxy's OAuth2 client always is. */
async function finalize(db: Db, config: Record<string, unknown>): Promise<Record<string, unknown>> {
  const managed = await db
    .selectFrom("property_mappings")
    .select("pm_uuid")
    .where("managed", "in", PROXY_SCOPES)
    .where("kind", "=", "scope")
    .execute();
  const mappings = new Set([
    ...((config.property_mappings as string[] | undefined) ?? []),
    ...managed.map((m) => m.pm_uuid),
  ]);
  return {
    ...config,
    client_type: "confidential",
    signing_key: null,
    include_claims_in_id_token: true,
    property_mappings: [...mappings],
    redirect_uris: proxyRedirectUris(String(config.external_host ?? "")),
  };
}

/** authentik's generated credentials: a 40-character client id and a 128-character secret. */
const generated = (length: number) => randomBytes(length).toString("base64url").slice(0, length);

const SETTINGS = [
  "property_mappings",
  "external_host",
  ...PROXY_KEYS,
  "jwt_federation_sources",
  "jwt_federation_providers",
  "access_token_validity",
  "refresh_token_validity",
] as const;

export function proxyProvidersController(ctx: CoreContext) {
  return providerCrudRoutes(ctx, {
    kind: "proxy",
    code: "PP",
    schema: ProxyProviderRequest,
    readOnly: READ_ONLY,
    settings: shown,
    stored: proxySettings,
    finalize,
    settingKeys: SETTINGS,
    initial: () => ({
      ...PROXY_DEFAULTS,
      access_code_validity: "minutes=1",
      access_token_validity: "hours=24",
      refresh_token_validity: "days=30",
      sub_mode: "hashed_user_id",
      issuer_mode: "per_provider",
      client_id: generated(40),
      client_secret: generated(128),
      cookie_secret: generated(40),
    }),
    check,
    servedByOutposts: true,
  });
}

/**
 * GET /api/v3/outposts/proxy/: authentik's ProxyOutpostConfig for each provider the calling outpost
 * serves — its OAuth2 client (id and secret), the discovery document, the cookie secret and the
 * proxy settings.
 */
export function proxyOutpostController(ctx: CoreContext) {
  return new Elysia({ prefix: "/outposts/proxy" }).use(authenticated(ctx)).get(
    "/",
    async ({ actor, search, request }) => {
      const origin = new URL(request.url).origin;
      return servedProviderConfigs(ctx, actor, "proxy", search, async (row, apps) => {
        const s = proxySettings(row);
        const app = apps.direct.get(row.id);
        return {
          pk: row.id,
          name: row.name,
          internal_host: s.internal_host,
          external_host: s.external_host,
          internal_host_ssl_validation: s.internal_host_ssl_validation,
          client_id: s.client_id,
          client_secret: s.client_secret,
          oidc_configuration: app ? await discoveryDocument(ctx, origin, app.slug, row) : null,
          cookie_secret: s.cookie_secret,
          certificate: s.certificate,
          skip_path_regex: s.skip_path_regex,
          basic_auth_enabled: s.basic_auth_enabled,
          basic_auth_password_attribute: s.basic_auth_password_attribute,
          basic_auth_user_attribute: s.basic_auth_user_attribute,
          mode: s.mode,
          cookie_domain: s.cookie_domain,
          access_token_validity: (timedeltaMs(s.access_token_validity) ?? 86_400_000) / 1000,
          intercept_header_auth: s.intercept_header_auth,
          scopes_to_request: [
            ...new Set((await scopeMappings(ctx, row)).map((m) => m.scope_name ?? "").filter(Boolean)),
          ],
          assigned_application_slug: app?.slug ?? "",
          assigned_application_name: app?.name ?? "",
        };
      });
    },
    { detail: { tags: ["outposts"], operationId: "outposts_proxy_list" } },
  );
}
