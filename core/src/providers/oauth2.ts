/**
 * The OAuth2/OpenID provider object (/api/v3/providers/oauth2/), with authentik's fields and defaults:
 * client id and secret generated when not given, redirect URIs as strict or regex matches, validity
 * periods in authentik's `unit=value;…` form, signing and encryption keys from the certificate-key
 * pairs, scope mappings as property mappings. (The authorization server itself comes next.)
 */
import { randomBytes } from "node:crypto";
import { type Static, Type as t } from "@sinclair/typebox";
import { validationError } from "../../../shared/errors.ts";
import type { CoreContext, Db } from "../context.ts";
import { pairExists } from "../crypto/service.ts";
import { fromJson } from "../store/codec.ts";
import { checkProviderBasics, PROVIDER_READ_ONLY, type ProviderRow } from "./base.ts";
import { providerCrudRoutes } from "./crud.ts";

const CLIENT_TYPES = ["confidential", "public"] as const;
const SUB_MODES = [
  "hashed_user_id",
  "user_id",
  "user_uuid",
  "user_username",
  "user_email",
  "user_upn",
] as const;
const ISSUER_MODES = ["global", "per_provider"] as const;
const LOGOUT_METHODS = ["backchannel", "frontchannel"] as const;
const literals = <T extends readonly string[]>(values: T) => t.Union(values.map((v) => t.Literal(v)));

const RedirectUri = t.Object({
  matching_mode: literals(["strict", "regex"] as const),
  url: t.String({ minLength: 1, maxLength: 2000 }),
});

export const OAuth2ProviderRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  authentication_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  authorization_flow: t.String({ format: "uuid" }),
  invalidation_flow: t.String({ format: "uuid" }),
  property_mappings: t.Optional(t.Array(t.String({ format: "uuid" }), { maxItems: 200 })),
  client_type: t.Optional(literals(CLIENT_TYPES)),
  client_id: t.Optional(t.String({ minLength: 1, maxLength: 255 })),
  client_secret: t.Optional(t.String({ maxLength: 255 })),
  access_code_validity: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
  access_token_validity: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
  refresh_token_validity: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
  refresh_token_threshold: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
  include_claims_in_id_token: t.Optional(t.Boolean()),
  signing_key: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  encryption_key: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  redirect_uris: t.Array(RedirectUri, { maxItems: 200 }),
  logout_uri: t.Optional(t.String({ maxLength: 2000 })),
  logout_method: t.Optional(literals(LOGOUT_METHODS)),
  sub_mode: t.Optional(literals(SUB_MODES)),
  issuer_mode: t.Optional(literals(ISSUER_MODES)),
  jwt_federation_sources: t.Optional(t.Array(t.String({ format: "uuid" }), { maxItems: 0 })),
  jwt_federation_providers: t.Optional(t.Array(t.Integer(), { maxItems: 100 })),
});
export type OAuth2ProviderRequest = Static<typeof OAuth2ProviderRequest>;

const READ_ONLY = [...PROVIDER_READ_ONLY] as const;

/** authentik's defaults (authentik/providers/oauth2/models.py). */
const DEFAULTS = {
  property_mappings: [] as string[],
  client_type: "confidential",
  access_code_validity: "minutes=1",
  access_token_validity: "minutes=5",
  refresh_token_validity: "days=30",
  refresh_token_threshold: "seconds=0",
  include_claims_in_id_token: true,
  signing_key: null as string | null,
  encryption_key: null as string | null,
  redirect_uris: [] as { matching_mode: string; url: string }[],
  logout_uri: "",
  logout_method: "backchannel",
  sub_mode: "hashed_user_id",
  issuer_mode: "per_provider",
  jwt_federation_sources: [] as string[],
  jwt_federation_providers: [] as number[],
};

export type OAuth2Settings = typeof DEFAULTS & { client_id: string; client_secret: string };

/** Parsed settings by row, with the config they came from: the token endpoint asks several times a request. */
const parsedSettings = new WeakMap<ProviderRow, { config: unknown; settings: OAuth2Settings }>();

/** A provider row's settings with the defaults filled in; treat the answer as read-only (it is shared). */
export function oauth2Settings(row: ProviderRow): OAuth2Settings {
  const kept = parsedSettings.get(row);
  if (kept && kept.config === row.config) return kept.settings;
  const settings: OAuth2Settings = {
    ...DEFAULTS,
    client_id: "",
    client_secret: "",
    ...fromJson<Partial<OAuth2Settings>>(row.config),
  };
  parsedSettings.set(row, { config: row.config, settings });
  return settings;
}

const TIMEDELTA_UNITS = new Set([
  "weeks",
  "days",
  "hours",
  "minutes",
  "seconds",
  "milliseconds",
  "microseconds",
]);

/** authentik's validity form, `hours=1;minutes=30`: its length in milliseconds, or undefined if invalid. */
export function timedeltaMs(value: string): number | undefined {
  const factor: Record<string, number> = {
    weeks: 604_800_000,
    days: 86_400_000,
    hours: 3_600_000,
    minutes: 60_000,
    seconds: 1000,
    milliseconds: 1,
    microseconds: 0.001,
  };
  let total = 0;
  for (const part of value.split(";")) {
    const m = /^\s*([a-z]+)\s*=\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!m || !TIMEDELTA_UNITS.has(m[1] as string)) return undefined;
    total += Number(m[2]) * (factor[m[1] as string] as number);
  }
  return total;
}

const VALIDITY_FIELDS = [
  "access_code_validity",
  "access_token_validity",
  "refresh_token_validity",
  "refresh_token_threshold",
] as const;

async function check(db: Db, input: Partial<OAuth2ProviderRequest>, except?: number): Promise<void> {
  const fields: Record<string, string[]> = {};
  await checkProviderBasics(db, input, fields, except);
  for (const field of ["signing_key", "encryption_key"] as const) {
    const id = input[field];
    if (id && !(await pairExists(db, id))) fields[field] = [`Invalid pk "${id}" - object does not exist.`];
  }
  for (const field of VALIDITY_FIELDS) {
    const value = input[field];
    if (value !== undefined && timedeltaMs(value) === undefined)
      fields[field] = [`"${value}" is not a duration like "hours=1;minutes=30".`];
  }
  (input.redirect_uris ?? []).forEach((uri, i) => {
    if (uri.matching_mode === "regex") {
      try {
        new RegExp(uri.url);
      } catch (err) {
        fields.redirect_uris = [`Entry ${i + 1}: invalid regular expression (${(err as Error).message}).`];
      }
    } else if (!URL.canParse(uri.url)) {
      fields.redirect_uris = [`Entry ${i + 1}: "${uri.url}" is not a URL.`];
    }
  });
  if (input.logout_uri && !URL.canParse(input.logout_uri)) fields.logout_uri = ["Enter a valid URL."];
  for (const pm of input.property_mappings ?? []) {
    const found = await db
      .selectFrom("property_mappings")
      .select("pm_uuid")
      .where("pm_uuid", "=", pm)
      .where("kind", "=", "scope")
      .executeTakeFirst();
    if (!found) fields.property_mappings = [`Invalid pk "${pm}" - object does not exist.`];
  }
  if (input.client_id !== undefined) {
    const others = await db
      .selectFrom("providers")
      .select(["id", "config"])
      .where("kind", "=", "oauth2")
      .execute();
    if (others.some((o) => o.id !== except && oauth2Settings(o as ProviderRow).client_id === input.client_id))
      fields.client_id = ["OAuth2/OpenID Provider with this Client ID already exists."];
  }
  if (input.jwt_federation_providers?.length) {
    const ids = input.jwt_federation_providers;
    const found = await db
      .selectFrom("providers")
      .select("id")
      .where("kind", "=", "oauth2")
      .where("id", "in", ids)
      .execute();
    if (found.length !== new Set(ids).size) fields.jwt_federation_providers = ["Unknown OAuth2 provider."];
  }
  if (Object.keys(fields).length > 0) throw validationError("OP0002InvalidProvider", fields);
}

const SETTINGS = [
  "property_mappings",
  "client_type",
  "client_id",
  "client_secret",
  ...VALIDITY_FIELDS,
  "include_claims_in_id_token",
  "signing_key",
  "encryption_key",
  "redirect_uris",
  "logout_uri",
  "logout_method",
  "sub_mode",
  "issuer_mode",
  "jwt_federation_sources",
  "jwt_federation_providers",
] as const;
/** authentik's generated credentials: a 40-character client id and a 128-character secret. */
const generated = (length: number) => randomBytes(length).toString("base64url").slice(0, length);

export function oauth2ProvidersController(ctx: CoreContext) {
  return providerCrudRoutes(ctx, {
    kind: "oauth2",
    code: "OP",
    schema: OAuth2ProviderRequest,
    readOnly: READ_ONLY,
    settings: oauth2Settings,
    settingKeys: SETTINGS,
    initial: () => ({ ...DEFAULTS, client_id: generated(40), client_secret: generated(128) }),
    check,
    servedByOutposts: false,
    settingFilters: ["client_id", "client_type", "issuer_mode", "sub_mode"],
  });
}
