/**
 * What refers to a certificate-key pair: LDAP providers (their `certificate`) and brands (their web
 * certificate and client certificates). `used_by` lists them as authentik's UsedBy; deleting a pair
 * detaches it from them (authentik's SET_NULL), and the outposts serving those providers are told.
 */
import type { Db } from "../context.ts";
import { ldapSettings } from "../providers/ldap.ts";
import { asJson, fromJson, toBool } from "../store/codec.ts";

export type UsedByAction = "cascade" | "cascade_many" | "set_null" | "set_default" | "left_dangling";

export interface UsedBy {
  app: string;
  model_name: string;
  pk: string;
  name: string;
  action: UsedByAction;
}

async function ldapProvidersUsing(db: Db, uuid: string) {
  const rows = await db
    .selectFrom("providers")
    .selectAll()
    .where("kind", "=", "ldap")
    .orderBy("id")
    .execute();
  return rows.filter((r) => ldapSettings(r).certificate === uuid);
}

async function brandsUsing(db: Db, uuid: string) {
  const rows = await db.selectFrom("brands").selectAll().orderBy("domain").execute();
  return rows.flatMap((row) => {
    const clients = fromJson<{ items?: string[] }>(row.client_certificates).items ?? [];
    const web = row.web_certificate === uuid;
    const client = clients.includes(uuid);
    return web || client ? [{ row, web, client, clients }] : [];
  });
}

export async function usedBy(db: Db, uuid: string): Promise<UsedBy[]> {
  const providers = await ldapProvidersUsing(db, uuid);
  const brands = await brandsUsing(db, uuid);
  return [
    ...providers.map((p) => ({
      app: "authentik_providers_ldap",
      model_name: "ldapprovider",
      pk: String(p.id),
      name: `LDAP Provider ${p.name}`,
      action: "set_null" as const,
    })),
    ...brands.flatMap(({ row, web, client }) => {
      const entry = {
        app: "authentik_brands",
        model_name: "brand",
        pk: row.brand_uuid,
        name: toBool(row.is_default) ? "Default brand" : `Brand ${row.domain}`,
      };
      return [
        ...(web ? [{ ...entry, action: "set_null" as const }] : []),
        ...(client ? [{ ...entry, action: "cascade_many" as const }] : []),
      ];
    }),
  ];
}

/** The outposts that serve a provider using this pair: they must refetch their configuration. */
export async function outpostsUsing(db: Db, uuid: string): Promise<string[]> {
  const providers = await ldapProvidersUsing(db, uuid);
  if (providers.length === 0) return [];
  const rows = await db
    .selectFrom("outpost_providers")
    .select("outpost_uuid")
    .distinct()
    .where(
      "provider_id",
      "in",
      providers.map((p) => p.id),
    )
    .execute();
  return rows.map((r) => r.outpost_uuid);
}

/** Before a pair is deleted: references to it are cleared, as authentik's on_delete=SET_NULL. */
export async function detachPair(db: Db, uuid: string): Promise<void> {
  for (const p of await ldapProvidersUsing(db, uuid)) {
    await db
      .updateTable("providers")
      .set({ config: asJson({ ...ldapSettings(p), certificate: null }) })
      .where("id", "=", p.id)
      .execute();
  }
  for (const { row, web, client, clients } of await brandsUsing(db, uuid)) {
    await db
      .updateTable("brands")
      .set({
        ...(web && { web_certificate: null }),
        ...(client && { client_certificates: asJson({ items: clients.filter((c) => c !== uuid) }) }),
      })
      .where("brand_uuid", "=", row.brand_uuid)
      .execute();
  }
}
