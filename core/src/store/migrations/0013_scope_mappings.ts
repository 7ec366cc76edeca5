/** Scope mappings (OAuth2) are property mappings with the scope they answer and a description. */
import type { Kysely } from "kysely";
import type { StoreKind, StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, _kind: StoreKind): Promise<void> {
  await db.schema.alterTable("property_mappings").addColumn("scope_name", "text").execute();
  await db.schema
    .alterTable("property_mappings")
    .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
    .execute();
}

export const migration0013: StoreMigration = { name: "0013_scope_mappings", up };
