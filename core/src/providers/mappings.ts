/**
 * What every kind of property mapping (RADIUS, scope) shares: lookup by uuid within its kind, the path
 * key, and the name (and `managed`) uniqueness that spans all kinds, as authentik's PropertyMapping.
 */
import type { Selectable } from "kysely";
import { notFound } from "../../../shared/errors.ts";
import type { Db } from "../context.ts";
import type { PropertyMappingsTable } from "../store/database.ts";

export type MappingRow = Selectable<PropertyMappingsTable>;

/** A mapping kind's lookup and path key, with its own 404 code and message. */
export function mappingKind(kind: string, code: string, label: string) {
  const missing = (suffix: string) => notFound(`${code}${suffix}`, `No ${label} matches the given query.`);
  return {
    async get(db: Db, uuid: string): Promise<MappingRow> {
      const row = await db
        .selectFrom("property_mappings")
        .selectAll()
        .where("pm_uuid", "=", uuid)
        .where("kind", "=", kind)
        .executeTakeFirst();
      if (!row) throw missing("0001NotFound");
      return row;
    },
    key(raw: string): string {
      if (!/^[0-9a-fA-F-]{32,36}$/.test(raw)) throw missing("0003BadId");
      return raw.toLowerCase();
    },
  };
}

/** Whether another mapping (of any kind) already has this value in `column`. */
export async function mappingTaken(
  db: Db,
  column: "name" | "managed",
  value: string,
  except?: string,
): Promise<boolean> {
  let q = db.selectFrom("property_mappings").select("pm_uuid").where(column, "=", value);
  if (except) q = q.where("pm_uuid", "!=", except);
  return (await q.executeTakeFirst()) !== undefined;
}
