/** What every provider kind shares: the summary shape (authentik's Provider) and its application. */
import type { Selectable } from "kysely";
import type { Db } from "../context.ts";
import type { ProvidersTable } from "../store/database.ts";

export type ProviderRow = Selectable<ProvidersTable>;

export const PROVIDER_KINDS = {
  ldap: { verbose: "LDAP Provider", app: "authentik_providers_ldap", model: "ldapprovider" },
  radius: { verbose: "Radius Provider", app: "authentik_providers_radius", model: "radiusprovider" },
  proxy: { verbose: "Proxy Provider", app: "authentik_providers_proxy", model: "proxyprovider" },
  oauth2: { verbose: "OAuth2/OpenID Provider", app: "authentik_providers_oauth2", model: "oauth2provider" },
} as const;
export type ProviderKind = keyof typeof PROVIDER_KINDS;

export function providerModelName(kind: string): string {
  const k = PROVIDER_KINDS[kind as ProviderKind];
  return k ? `${k.app}.${k.model}` : kind;
}

/** The applications using these providers directly, and as backchannel. */
export async function assignedApplications(db: Db, ids: number[]) {
  if (ids.length === 0)
    return {
      direct: new Map<number, { slug: string; name: string }>(),
      backchannel: new Map<number, { slug: string; name: string }>(),
    };
  const [direct, back] = await Promise.all([
    db.selectFrom("applications").select(["provider", "slug", "name"]).where("provider", "in", ids).execute(),
    db
      .selectFrom("application_backchannel_providers as b")
      .innerJoin("applications as a", "a.app_uuid", "b.app_uuid")
      .select(["b.provider", "a.slug", "a.name"])
      .where("b.provider", "in", ids)
      .execute(),
  ]);
  return {
    direct: new Map(direct.map((a) => [a.provider as number, { slug: a.slug, name: a.name }])),
    backchannel: new Map(back.map((a) => [a.provider, { slug: a.slug, name: a.name }])),
  };
}

export async function summarizeProviders(db: Db, rows: ProviderRow[]) {
  const apps = await assignedApplications(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((row) => {
    const kind = PROVIDER_KINDS[row.kind as ProviderKind];
    return {
      pk: row.id,
      name: row.name,
      authentication_flow: null,
      authorization_flow: row.authorization_flow,
      invalidation_flow: row.invalidation_flow,
      property_mappings: [],
      component: `ak-provider-${row.kind}-form`,
      assigned_application_slug: apps.direct.get(row.id)?.slug ?? null,
      assigned_application_name: apps.direct.get(row.id)?.name ?? null,
      assigned_backchannel_application_slug: apps.backchannel.get(row.id)?.slug ?? null,
      assigned_backchannel_application_name: apps.backchannel.get(row.id)?.name ?? null,
      verbose_name: kind?.verbose ?? row.kind,
      verbose_name_plural: `${kind?.verbose ?? row.kind}s`,
      meta_model_name: providerModelName(row.kind),
    };
  });
}
