/**
 * Property mappings (authentik's PropertyMapping): a named expression of one kind (`radius` for now)
 * that providers list in their `property_mappings`.
 */
import type { Kysely } from "kysely";
import type { StoreKind, StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, _kind: StoreKind): Promise<void> {
  await db.schema
    .createTable("property_mappings")
    .addColumn("pm_uuid", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("expression", "text", (c) => c.notNull())
    .addColumn("managed", "text", (c) => c.unique())
    .execute();
}

export const migration0012: StoreMigration = { name: "0012_property_mappings", up };
