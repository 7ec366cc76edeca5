/**
 * The LDAP provider (/api/v3/providers/ldap/), and what an LDAP outpost reads (/api/v3/outposts/ldap/
 * and its check_access). Changing a provider tells the outposts that serve it to refresh.
 */
import { type Static, Type as t } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { validationError } from "../../../shared/errors.ts";
import { authenticated } from "../api/authenticated.ts";
import { outpostAccess } from "../applications/service.ts";
import type { CoreContext, Db } from "../context.ts";
import { pairExists } from "../crypto/service.ts";
import { hasPermission } from "../rbac/service.ts";
import { fromJson } from "../store/codec.ts";
import {
  checkProviderBasics,
  flowSlug,
  PROVIDER_READ_ONLY,
  type ProviderRow,
  servedProviderConfigs,
} from "./base.ts";
import { providerCrudRoutes, providerGetter, providerIdKey } from "./crud.ts";

export const SEARCH_FULL_DIRECTORY = "authentik_providers_ldap.search_full_directory";
const ACCESS_MODES = [t.Literal("direct"), t.Literal("cached")];

export const LdapProviderRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  authentication_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  authorization_flow: t.String({ format: "uuid" }),
  invalidation_flow: t.String({ format: "uuid" }),
  property_mappings: t.Optional(t.Array(t.String({ format: "uuid" }), { maxItems: 0 })),
  base_dn: t.Optional(
    t.String({ minLength: 1, maxLength: 500, pattern: "^([a-zA-Z]+=[^,]+)(,[a-zA-Z]+=[^,]+)*$" }),
  ),
  certificate: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  tls_server_name: t.Optional(t.String({ maxLength: 253 })),
  uid_start_number: t.Optional(t.Integer({ minimum: 0, maximum: 2147483647 })),
  gid_start_number: t.Optional(t.Integer({ minimum: 0, maximum: 2147483647 })),
  search_mode: t.Optional(t.Union(ACCESS_MODES)),
  bind_mode: t.Optional(t.Union(ACCESS_MODES)),
  mfa_support: t.Optional(t.Boolean()),
});
export type LdapProviderRequest = Static<typeof LdapProviderRequest>;
const READ_ONLY = [...PROVIDER_READ_ONLY, "outpost_set"] as const;

const DEFAULTS = {
  base_dn: "DC=ldap,DC=goauthentik,DC=io",
  certificate: null,
  tls_server_name: "",
  uid_start_number: 2000,
  gid_start_number: 4000,
  search_mode: "direct",
  bind_mode: "direct",
  mfa_support: true,
};

export interface LdapSettings {
  base_dn: string;
  certificate: string | null;
  tls_server_name: string;
  uid_start_number: number;
  gid_start_number: number;
  search_mode: string;
  bind_mode: string;
  mfa_support: boolean;
}

export const ldapSettings = (row: ProviderRow): LdapSettings => ({
  ...DEFAULTS,
  ...fromJson<Partial<LdapSettings>>(row.config),
});

export const getLdapProvider = providerGetter("ldap", "LP");
const intKey = providerIdKey("ldap", "LP");

async function check(db: Db, input: Partial<LdapProviderRequest>, except?: number): Promise<void> {
  const fields: Record<string, string[]> = {};
  await checkProviderBasics(db, input, fields, except);
  if (input.certificate && !(await pairExists(db, input.certificate))) {
    fields.certificate = [`Invalid pk "${input.certificate}" - object does not exist.`];
  }
  if (input.base_dn !== undefined) {
    // Every LDAP provider needs a base DN of its own: binds and searches are routed by it.
    const others = await db
      .selectFrom("providers")
      .select(["id", "config"])
      .where("kind", "=", "ldap")
      .execute();
    const taken = others.some(
      (o) =>
        o.id !== except &&
        ldapSettings(o as ProviderRow).base_dn.toLowerCase() === input.base_dn?.toLowerCase(),
    );
    if (taken) fields.base_dn = ["Another LDAP provider already uses this base DN."];
  }
  if (Object.keys(fields).length > 0) throw validationError("LP0002InvalidProvider", fields);
}

const SETTINGS = [
  "base_dn",
  "certificate",
  "tls_server_name",
  "uid_start_number",
  "gid_start_number",
  "search_mode",
  "bind_mode",
  "mfa_support",
] as const;
export function ldapProvidersController(ctx: CoreContext) {
  return providerCrudRoutes(ctx, {
    kind: "ldap",
    code: "LP",
    schema: LdapProviderRequest,
    readOnly: READ_ONLY,
    settings: ldapSettings,
    settingKeys: SETTINGS,
    initial: () => ({ ...DEFAULTS }),
    check,
    servedByOutposts: true,
  });
}

export function ldapOutpostController(ctx: CoreContext) {
  return new Elysia({ prefix: "/outposts/ldap" })
    .use(authenticated(ctx))
    .get(
      "/",
      async ({ actor, search }) => {
        return servedProviderConfigs(ctx, actor, "ldap", search, async (row, apps) => {
          const s = ldapSettings(row);
          return {
            pk: row.id,
            name: row.name,
            base_dn: s.base_dn,
            bind_flow_slug: (await flowSlug(ctx.store.db, row.authorization_flow)) ?? "",
            unbind_flow_slug: await flowSlug(ctx.store.db, row.invalidation_flow),
            application_slug: apps.backchannel.get(row.id)?.slug ?? apps.direct.get(row.id)?.slug ?? "",
            certificate: s.certificate,
            tls_server_name: s.tls_server_name,
            uid_start_number: s.uid_start_number,
            gid_start_number: s.gid_start_number,
            search_mode: s.search_mode,
            bind_mode: s.bind_mode,
            mfa_support: s.mfa_support,
          };
        });
      },
      { detail: { tags: ["outposts"], operationId: "outposts_ldap_list" } },
    )
    .get(
      "/:id/check_access/",
      async ({ actor, meta, params, search }) => {
        const id = Number(intKey(params.id));
        const provider = await getLdapProvider(ctx.store.db, id);
        const access = await outpostAccess(
          ctx,
          search.get("app_slug"),
          actor.user,
          meta,
          "LP0011NoApplication",
        );
        return {
          has_search_permission: await hasPermission(
            ctx.store.db,
            actor.user.id,
            SEARCH_FULL_DIRECTORY,
            String(provider.id),
          ),
          access: { passing: access.passing, messages: access.messages, log_messages: [] },
        };
      },
      { detail: { tags: ["outposts"], operationId: "outposts_ldap_check_access_retrieve" } },
    );
}
